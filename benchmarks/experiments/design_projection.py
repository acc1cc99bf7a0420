"""Quick measure: trained projection on frozen EfficientNet-Lite0 GeM features, drawn designs (160 px, 4 views)."""
import sys, time, numpy as np, pandas as pd, torch, torch.nn.functional as F
from pathlib import Path
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.backbones import build_model
from jewelhelpers.core.forward import batch_logits
from beyond_labels import retrieval_scores
torch.manual_seed(0); torch.set_num_threads(2)
bb = build_model("efficientnet_lite0", 5, pretrained=True)
meta = {"presize": 160, "size": 160, "mean": bb.mean, "std": bb.std, "classes": list(range(5))}
model = bb.model.eval()
def feats(folder, per_class, seed):
    t = time.time(); make_synth(folder, per_class=per_class, size=160, seed=seed, views=4, progress=False)
    d = pd.read_csv(Path(folder) / "designs.csv"); paths = [Path(folder) / p for p in d.path]
    out = batch_logits(model, paths, meta, 64, progress=False, features=True, pool="gem")
    print(folder, len(paths), f"{time.time()-t:.0f}s", flush=True)
    return F.normalize(out.features.float(), dim=1), d.design.astype(str).values
Xe, ge = feats("/tmp/retrieval2/eval", 40, 0)
Xt, gt = feats("/tmp/retrieval2/train", int(sys.argv[1]), 1)
print("frozen GeM raw", retrieval_scores(Xe.numpy(), ge))
yt = torch.tensor(pd.factorize(gt)[0])
for hidden in (0, 512):
    torch.manual_seed(0)
    d = Xt.shape[1]
    proj = torch.nn.Linear(d, 128) if hidden == 0 else torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 128))
    opt = torch.optim.AdamW(proj.parameters(), 1e-3, weight_decay=1e-4)
    for ep in range(300):  # SupCon-style full-batch loss on design id, temperature 0.1
        z = F.normalize(proj(Xt), dim=1); s = z @ z.T / 0.1
        eye = torch.eye(len(z), dtype=torch.bool); s = s.masked_fill(eye, -1e9)
        pos = (yt[:, None] == yt[None]) & ~eye
        loss = -(F.log_softmax(s, 1) * pos).sum(1).div(pos.sum(1)).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad(): ze = F.normalize(proj(Xe), dim=1).numpy()
    print(f"proj hidden={hidden} loss={loss.item():.3f}", retrieval_scores(ze, ge), flush=True)
