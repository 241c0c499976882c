"""Paper 000 (structured attention, l2,1 block sparsity): Tables 3-5 on the retest preset, and
Table 5's claims on the attention preset (majority vote over clips: the paper's protocol)."""

from retest.notes import entropy_trend
from retest.rows import HIDDEN, LAM, A, Claim, Row, Table, att_row

PROBE = Row("linear probe: pooled mean + std", "probe")
PROBES = [PROBE, Row("linear probe: actor cells (ideal attention)", "probe-actor", (), PROBE)]
NONE = Row("without attention (none)", "none", (), PROBE)
CLASSIC = Row("classic attention (structured, lambda = 0)", "structured", (("lam", 0.0),), NONE)
STRUCTURED = Row(f"structured attention (lambda = {LAM:g})", "structured", (("lam", LAM),),
                 CLASSIC)

# table 3 and 4's rows of the same configurations as table 5's: their runs
_CLASSIC = CLASSIC.named("lambda = 0 (classic)")
_N4 = STRUCTURED.named("N = 4 (side 2, stride 2: the paper's S_r)")
TABLES = [
    Table("table5", "Paper 000 Table 5: attention mechanisms (video label by majority vote)",
          "vote", "seeds", [*PROBES, NONE, CLASSIC, STRUCTURED], options={"hidden": HIDDEN}),
    Table("table3", "Paper 000 Table 3: the structured penalty's weight (vote)", "vote",
          "sweep_seeds",
          [_CLASSIC] + [STRUCTURED.named(f"lambda = {lam:g}", _CLASSIC) if lam == LAM else
                        Row(f"lambda = {lam:g}", "structured", (("lam", lam),), _CLASSIC)
                        for lam in (1e-4, 1e-3, LAM, 1e-1, 1.0)],
          notes=(entropy_trend,), options={"hidden": HIDDEN}),
    Table("table4", "Paper 000 Table 4: blocks (vote); 'block size' read as the block side L",
          "vote", "sweep_seeds",
          [_N4] + [Row(f"side {side}, stride {stride}", "structured",
                       (("lam", LAM), ("block_side", side), ("block_stride", stride)), _N4)
                   for side, stride in ((4, 4), (6, 6), (2, 1), (4, 2), (6, 2))],
          options={"hidden": HIDDEN}),
]

# the claims' table (issue 25): rgb on the attention preset, majority vote
C_NONE = att_row(f"{A}none", "none")
C_CLASSIC = att_row(f"{A}classic (lambda 0)", "structured", (("lam", 0.0),), C_NONE)
C_STRUCTURED = att_row(f"{A}structured (lambda {LAM:g})", "structured", (("lam", LAM),),
                       C_CLASSIC)
C000 = Table("c000", "Paper 000 Table 5 on the attention preset (rgb; majority vote)", "vote",
             "seeds", [C_NONE, C_CLASSIC, C_STRUCTURED], {"epochs": 30},
             store="attention-features", options={"hidden": HIDDEN})
CLAIM_TABLES = [C000]

CLAIMS = [
    Claim("000", "structured over classic attention (Table 5)", "UCF-11 / HMDB-51: 91.84 / "
          "48.81 against 84.98 / 41.42 (+6.9 / +7.4)", C000, C_STRUCTURED, C_CLASSIC,
          gains=(91.84 - 84.98, 48.81 - 41.42)),
    Claim("000", "classic attention over none (Table 5)", "UCF-11 / HMDB-51: 84.98 / 41.42 "
          "against 82.37 / 38.46 (+2.6 / +3.0)", C000, C_CLASSIC, C_NONE,
          gains=(84.98 - 82.37, 41.42 - 38.46)),
]
