#!/bin/bash
# The paper's comparison (Tables 1-3, Figure 7) on a CPU-sized slice of faces: the first
# 3,000 photos, every method 4 epochs on the same split. About 50 minutes on 2 CPU cores.
# Usage: benchmarks/compare_faces.sh [FACES_DIR] [OUT_DIR]   (models and results go to OUT_DIR)
set -e
D=${1:-../shared/data/faces}
O=${2:-runs/compare-faces}
mkdir -p "$O"
C=(--data "$D" --max-images 3000 --batch-size 64)
OURS=(--features general --stages vae,mdn --epochs 0,4,3)
[ -f "$O/ours.pt" ] || divcolor train "${C[@]}" --out "$O/ours.pt" "${OURS[@]}"
[ -f "$O/skip.pt" ] || divcolor train "${C[@]}" --out "$O/skip.pt" "${OURS[@]}" --method ours-skip
[ -f "$O/cvae.pt" ] || divcolor train "${C[@]}" --out "$O/cvae.pt" --method cvae --epochs 4
[ -f "$O/cgan.pt" ] || divcolor train "${C[@]}" --out "$O/cgan.pt" --method cgan --epochs 4
[ -f "$O/l2.pt" ] || divcolor train "${C[@]}" --out "$O/l2.pt" "${OURS[@]}" --loss l2
# The ablation's rows need only the VAE; one MDN epoch makes the file a complete model.
[ -f "$O/mah.pt" ] || divcolor train "${C[@]}" --out "$O/mah.pt" --features general --stages vae,mdn \
  --epochs 0,4,1 --loss mah
E=(--data "$D" --max-images 3000 --split val)
divcolor eval "${E[@]}" --methods ours,ours-skip,cvae,cgan,per-pixel --model "$O/ours.pt" \
  --model-ours-skip "$O/skip.pt" --model-cvae "$O/cvae.pt" --model-cgan "$O/cgan.pt" \
  --figure "$O/figure7.png" --json "$O/compare.json" --paper faces
divcolor eval "${E[@]}" --model "$O/l2.pt" --json "$O/l2.json"
divcolor eval "${E[@]}" --model "$O/mah.pt" --json "$O/mah.json"
