"""What each stream is worth: linear probes and the avg-pooled LSTM on the retest preset's rgb
and flow; on the attention preset (issue 21) the probes of every stream, pooled and on the
labelled actor's cells (the preset's criteria (a)-(d)), and a quick check of the models."""

from retest.p000 import PROBE
from retest.p001 import C_AA_CE, RSTAN_EPOCHS, RSTAN_EVAL_T, RSTAN_T
from retest.p002 import AVG
from retest.p003 import joint
from retest.rows import HIDDEN, LAM, Row, Table, att_row

_RGB = PROBE.named("linear probe: rgb")  # table 1's runs
_AVG_RGB = AVG.named("avg-pooled LSTM: rgb")
_AVG_FLOW = Row("avg-pooled LSTM: flow", "avgpool", (("stream", "flow"),), _AVG_RGB)
_AVG_BOTH = Row("avg-pooled LSTM: rgb + flow", "avgpool", (("stream", "rgb+flow"),), _AVG_RGB)
FLOW_TABLES = [
    Table("flow", "What the flow stream is worth: linear probes", "mean", "seeds",
          [_RGB, Row("linear probe: flow", "probe", (("stream", "flow"),), _RGB),
           Row("linear probe: rgb + flow", "probe", (("stream", "rgb+flow"),), _RGB)],
          options={}),
    Table("flow_lstm", "What the flow stream is worth: the avg-pooled LSTM (video score = mean "
          "of clip scores)", "mean", "sweep_seeds", [_AVG_RGB, _AVG_FLOW, _AVG_BOTH],
          also=((_AVG_BOTH, _AVG_FLOW),), options={"hidden": HIDDEN}),
]

# level 2 (paper 003's second level) too: what the joint model's levels hold (docs/retest/claims.md)
ATT_STREAMS = (("rgb", "rgb"), ("flow", "flow"), ("rgb + flow", "rgb+flow"),
               ("level 2", "rgb_level2"))
_POOLED_RGB = att_row("pooled: rgb", "probe", (("stream", "rgb"),))
_POOLED = {n: _POOLED_RGB if s == "rgb" else
           att_row(f"pooled: {n}", "probe", (("stream", s),), _POOLED_RGB)
           for n, s in ATT_STREAMS}
_PROBE = _POOLED["rgb + flow"].named("linear probe: rgb + flow, pooled")
_AVG = att_row("avg-pooled LSTM (rgb + flow)", "avgpool", (("stream", "rgb+flow"),), _PROBE)
ATTENTION_TABLES = [
    Table("att_probes", "The attention preset: linear probes on each stream, pooled and on the "
          "labelled actor's cells (ideal attention)", "mean", "sweep_seeds",
          [*_POOLED.values()] +
          [att_row(f"actor cells: {n}", "probe-actor", (("stream", s),), _POOLED[n])
           for n, s in ATT_STREAMS],
          store="attention-features", also=((_POOLED["rgb + flow"], _POOLED["flow"]),),
          options={}),
    Table("att_models", "The attention preset: a quick check of the models (rgb + flow where a "
          "model reads one cube; video score = mean of clip scores)", "mean", "sweep_seeds",
          [_PROBE, _AVG,
           att_row(f"structured attention (rgb + flow, lambda = {LAM:g})", "structured",
                   (("stream", "rgb+flow"), ("lam", LAM)), _AVG),
           att_row("soft attention (rgb + flow)", "soft", (("stream", "rgb+flow"),), _AVG),
           att_row("RSTAN: S-T + A-M (max) + A-A (CE), two streams", "rstan",
                   (("fusion", "max"), ("att_dim", 64), ("lam_aa", 0.5), ("aa_loss", "ce")),
                   _AVG, (("clip_len", RSTAN_T), ("eval_clip_len", RSTAN_EVAL_T),
                          ("epochs", RSTAN_EPOCHS)), shares=C_AA_CE),
           att_row("joint: both levels (rgb, rgb_level2)", "joint", joint(), _AVG)],
          {"epochs": 30}, store="attention-features", options={"hidden": HIDDEN}),
]
