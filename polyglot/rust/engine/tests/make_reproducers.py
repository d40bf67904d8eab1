"""Writes reproducers.jsonl: one reproducer line per op and form, expectations from torch float64.

    python polyglot/rust/engine/tests/make_reproducers.py > polyglot/rust/engine/tests/reproducers.jsonl

Tolerances are 4 ulps of each number (torch and libm may round differently by an ulp or two).
"""

import json
import math

import torch

def enc(x):
    if x is None: return None
    if math.isnan(x): return "NaN"
    if math.isinf(x): return "Infinity" if x > 0 else "-Infinity"
    return x
def tol(x):
    if x is None or not math.isfinite(x): return None if x is None else 0.0
    return 4 * 2.0**-52 * max(abs(x), 1e-300)
def run(nodes, output, passes=1):
    vals=[]; ts=[]
    for n in nodes:
        op=n[0]
        if op=="input":
            t=torch.tensor(n[1],dtype=torch.float64,requires_grad=True); ts.append(t); vals.append(t)
        elif op=="const": ts.append(None); vals.append(n[1])
        else:
            a=vals[n[1]]; b=vals[n[2]] if len(n)>2 else None
            f={"add":lambda:a+b,"sub":lambda:a-b,"mul":lambda:a*b,"div":lambda:a/b,"pow":lambda:(torch.pow(a,b) if not isinstance(a,float) else torch.pow(a,b)),
               "neg":lambda:-a,"exp":lambda:a.exp(),"log":lambda:a.log(),"tanh":lambda:a.tanh(),"relu":lambda:a.relu(),"sigmoid":lambda:a.sigmoid(),
               "sin":lambda:a.sin(),"cos":lambda:a.cos(),"sqrt":lambda:a.sqrt(),"abs":lambda:a.abs(),
               "iadd":lambda:a+b,"isub":lambda:a-b,"imul":lambda:a*b,"idiv":lambda:a/b}[op]
            r=f(); r.retain_grad(); ts.append(r); vals.append(r)
    for _ in range(passes): vals[output].backward(retain_graph=True)
    values=[]; grads=[]
    for n,v in zip(nodes,vals):
        if n[0]=="const": values.append(None); grads.append(None)
        else:
            values.append(v.item()); grads.append(v.grad.item() if n[0]=="input" else None)
    line={"type":"run","id":0,"nodes":nodes,"output":output,"backward_passes":passes,
      "expect":{"values":[enc(x) for x in values],"grads":[enc(x) for x in grads],
                "value_tolerances":[tol(x) for x in values],"grad_tolerances":[tol(x) for x in grads]}}
    return json.dumps(line,separators=(",",":"))
progs=[]
for op in ["add","sub","mul","div","pow"]:
    progs.append(([["input",1.5],["input",0.75],[op,0,1]],2))
    progs.append(([["input",1.5],["const",-2.5],[op,0,1]],2))
    progs.append(([["const",2.5],["input",0.75],[op,0,1]],2))
for op in ["iadd","isub","imul","idiv"]:
    progs.append(([["input",1.5],["input",0.75],[op,0,1],["mul",2,0]],3))
    progs.append(([["input",1.5],["const",-2.5],[op,0,1],["mul",2,0]],3))
for op in ["neg","exp","log","tanh","relu","sigmoid","sin","cos","sqrt","abs"]:
    progs.append(([["input",0.7],[op,0]],1))
    progs.append(([["input",-0.0 if op not in("log","sqrt") else 0.0],[op,0]],1))
progs.append(([["input",3.0],["mul",0,0],["tanh",1],["add",2,0]],3,2))
progs.append(([["input",0.0],["input",2.0],["pow",0,1]],2))
progs.append(([["input",0.0],["const",0.0],["pow",0,1]],2))
progs.append(([["input",1000.0],["exp",0],["const",1.0],["div",2,1]],3))
for p in progs:
    print(run(*p))
