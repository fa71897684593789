# Would recency-weighted calibration follow the drift between a pool's validation and test
# periods? Refits Platt scaling on the validation split's holds, weighted toward the newest,
# and prints the test split's ECE (10 equal-width bins) for each way, from the CSVs
# `holdadvisor evaluate --predictions` writes (SIMULATED pools from bench/accuracy.sh):
#   holdadvisor evaluate --model bench/out/accuracy-N/model-S --data bench/out/accuracy-N/sim-S \
#       --predictions bench/out/accuracy-N/pred-S.csv
#   python3 bench/recalibration.py bench/out/accuracy-*/pred-*.csv
# Columns: none (the model's own calibration), val (Platt refitted on all of validation),
# val_lastF (on its newest fraction F), val_expT (weights e^((t - t_end)/(T * span))).
# Probabilities in the CSV are already calibrated; refitting on their logits composes with that.
import csv, math, sys
from ece_floor import ece  # the same 10 equal-width bins
def load(p):
    rows=[]
    for r in csv.DictReader(open(p)):
        if r['label']=='': continue
        pr=min(max(float(r['probability']),1e-6),1-1e-6)
        rows.append((r['split'],int(r['hold_time']),math.log(pr/(1-pr)),int(r['label']),int(r['code']),int(r['subcode'])))
    return rows
def sig(x): return 1/(1+math.exp(-x)) if x>-60 else 0.0
def platt(z,y,w,iters=200):
    a,b=1.0,0.0
    for _ in range(iters):
        ga=gb=haa=hab=hbb=0
        for zi,yi,wi in zip(z,y,w):
            p=sig(a*zi+b); g=(p-yi)*wi; h=p*(1-p)*wi+1e-9
            ga+=g*zi; gb+=g; haa+=h*zi*zi; hab+=h*zi; hbb+=h
        det=haa*hbb-hab*hab
        if det<=0: break
        da=(hbb*ga-hab*gb)/det; db=(haa*gb-hab*ga)/det
        a-=da; b-=db
        if abs(da)+abs(db)<1e-7: break
    return a,b
for path in sys.argv[1:]:
    rows=load(path)
    val=[r for r in rows if r[0]=='validation']; test=[r for r in rows if r[0]=='test']; tr=[r for r in rows if r[0]=='train']
    zt=[r[2] for r in test]; yt=[r[3] for r in test]
    out={'none':ece([sig(z) for z in zt],yt)}
    t0=min(r[1] for r in val); t1=max(r[1] for r in val); span=t1-t0
    def fit(rs,w):
        a,b=platt([r[2] for r in rs],[r[3] for r in rs],w); return ece([sig(a*z+b) for z in zt],yt),(round(a,2),round(b,2))
    out['val']=fit(val,[1]*len(val))
    for frac in (0.5,0.25):
        rs=[r for r in val if r[1]>=t1-frac*span]; out[f'val_last{frac}']=fit(rs,[1]*len(rs))
    for tau in (0.5,0.25):
        out[f'val_exp{tau}']=fit(val,[math.exp((r[1]-t1)/(tau*span)) for r in val])
    # intercept only: shift to match validation's last-half base rate
    print(path.split('/')[-2], path.split('/')[-1], {k:(round(v,3) if isinstance(v,float) else (round(v[0],3),v[1])) for k,v in out.items()}, 'n_test',len(test))
