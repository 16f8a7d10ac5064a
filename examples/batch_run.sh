#!/usr/bin/env bash
# A batch run: a synthetic cohort as a pyradiomics batch CSV, extracted with 2 workers into a
# resumable per-case folder, then one combined CSV with classical + ssl features per row.
set -euo pipefail
out=${1:-runs/batch-demo}
"${PYTHON:-python3}" -m radiomics_ssl.train.synthetic "$out/cohort" --cases 12 --ratio 3:1
pyradiomicsssl "$out/cohort/cases.csv" --param params/ssl.yaml --jobs 2 \
  --out-dir "$out/cases" --format csv > "$out/features.csv"
echo "wrote $out/features.csv ($(($(wc -l < "$out/features.csv") - 1)) cases)"
