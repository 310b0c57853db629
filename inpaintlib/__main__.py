import sys

from inpaintlib.cli import main

sys.exit(main())
