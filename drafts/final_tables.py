"""The closing note's tables for issue 24, as Markdown: every model on every bucket (PSNR, hole L1
and SSIM with their bootstrap 95 % intervals) and every ablation against its model and the seed
range. The same calls as Chapter 11 (cells 7-20), on all 100 test crops per bucket, read from
data/test_results.json where the shipped numbers match (a few seconds), measured where not.

    .venv/bin/python drafts/final_tables.py > /work/notes/tables.md
"""
import inpaintlib
from inpaintlib.data import photos
from inpaintlib.evaluation import comparison as cmp
from inpaintlib.evaluation.baselines import BASELINES
from inpaintlib.evaluation.fixed_test_set import evaluate_model
from inpaintlib.registry import ABLATION_OF, ABLATIONS, available_variants, checkpoint_path

N_TEST = 100
KINDS = photos.TEST_MASK_KINDS
LEARNED = [n for n in cmp.comparison_order() if n not in BASELINES]
ABLATED = [n for n in ABLATIONS if n not in LEARNED and checkpoint_path(n).is_file()]
models = {n: inpaintlib.load_pretrained(n) for n in (*BASELINES, *LEARNED, *ABLATED)}
label = {n: cmp.row_label(n, m) for n, m in models.items()}
metas = {label[n]: models[n].checkpoint_meta for n in (*LEARNED, *ABLATED)}
print("## Budgets\n\n" + cmp.budget_frame(metas).to_markdown() + "\n")
per_crop = {n: {k: cmp.per_crop_metrics(models[n], k, n=N_TEST) for k in KINDS} for n in models}
rows = {n: {k: None if v is None else {m: sum(x) / len(x) for m, x in v.items()}
            for k, v in per_crop[n].items()} for n in per_crop}
summary = {label[n]: cmp.summary_with_intervals(per_crop[n]) for n in (*BASELINES, *LEARNED)}
for metric in ("psnr_db", "l1_%", "ssim"):
    print(f"## {metric}, 95 % bootstrap intervals\n\n"
          + cmp.comparison_frame(summary, metrics=metric).to_markdown() + "\n")
seeds = {n: [v for v in ("cpu", "seed1", "seed2") if v in available_variants(n)] for n in LEARNED}
yardstick = max(seeds, key=lambda n: len(seeds[n]))
seed_rows = [evaluate_model(inpaintlib.load_pretrained(yardstick, variant=v), n=N_TEST, progress=False)
             for v in seeds[yardstick]]
spread = cmp.seed_spread(seed_rows) if len(seed_rows) > 1 else None
pairs = {a: ABLATION_OF[a] for a in ABLATED if ABLATION_OF[a][0] in rows}
named = {label[a]: (label[m], change) for a, (m, change) in pairs.items()}
table = cmp.ablation_deltas({label[m]: rows[m] for m, _ in pairs.values()},
                            {label[a]: rows[a] for a in pairs}, named, psnr_spread=spread)
print(f"## Ablations (ablation minus model; seed range of {label[yardstick]}, "
      f"{len(seed_rows)} seeds)\n\n" + table.to_markdown())
