"""The re-test's vocabulary: a ``Row`` (one configuration), a ``Table`` (rows under one paper's
protocol), a ``Claim`` (a paper's statement as one row over another), and the protocol every
table starts from (``TRAIN``, ``HIDDEN``, the stores under OUT/).

Rows refer to other rows as objects: a row's ``reference`` (what it is compared with) and
``of`` (the runs a score fusion or a test-time row reads). Its run key (results.json's, and the
run folder's name) comes from its model, options and ``of``; two rows with one key share one
run, which a row declares by being the same object, or with ``shares`` where it is shown under
another name (``catalog.check`` refuses any other collision).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from glimpse.config import TrainConfig

PRESET = "retest"  # the SynthActions preset of the tables without their own store
HIDDEN = 128  # every LSTM's width (the papers: 512-1024; what 2 cores afford), in each table's
# options
STORES = {"features": {"streams": ("rgb", "flow")},  # the stores under OUT/ and how to make them
          "features-levels": {"streams": ("rgb",), "levels": 2},
          # the attention preset (issue 21): every stream a row needs, in one store
          "attention-features": {"streams": ("rgb", "flow"), "levels": 2, "preset": "attention"}}
# the protocol's training settings; a table's ``train`` and a row's ``train`` go over them
TRAIN = TrainConfig(epochs=40, batch_size=32, lr=1e-3, gamma=1e-5, clip_len=30, stride=2)
LAM = 1e-2  # the structured default here: paper 000's 1e-4 scaled to our loss (docs/retest)
KINDS = ("train", "probe", "probe-actor", "fuse", "evaluate")


def preset_of(store: str) -> str:
    return STORES[store].get("preset", PRESET)


def videos_of(store: str) -> str:
    """The folder under OUT/ holding the videos a store is made from."""
    preset = preset_of(store)
    return "videos" if preset == PRESET else f"videos-{preset}"


@dataclass(frozen=True)
class Row:
    """One row of a table. ``model`` is a glimpse model to train (``train``, the default), or
    the row's kind when it trains nothing: ``probe`` / ``probe-actor`` (a linear probe on the
    pooled cube / the actor's cells; options: the stream), ``fuse`` (score fusion of the runs
    of the rows ``of``) or ``evaluate`` (the run of the row ``of`` tested another way:
    test-time options, temporal views)."""

    name: str
    model: str  # a glimpse model, or a kind that trains nothing (KINDS[1:])
    options: tuple = ()  # (key, value) pairs
    reference: Row | None = None  # the row this one is compared with
    store: str | None = None  # the store under OUT/ it reads, where not its table's (the same
    # rgb stream in another store: features-levels holds rgb too, without the flow pass)
    train: tuple = ()  # (key, value) training settings of its own, over its table's
    preset: str = PRESET  # the SynthActions preset its videos come from (a key prefix if not
    # the retest's, so that one configuration on two sets gets two runs)
    of: tuple = ()  # the rows whose runs a fuse / evaluate row reads
    shares: Row | None = None  # the row whose run this one shows under another name
    # the named training recipe it trains under (glimpse.recipes; None: the protocol's own,
    # glimpse's): its settings go under the table's and the row's, its model options under the
    # row's. Not in the run key: a round that changes a row's recipe runs in its own out
    # folder, and each record names the recipe it trained under
    recipe: str | None = None

    @property
    def kind(self) -> str:
        return self.model if self.model in KINDS else "train"

    def key(self, seed: int, video_rule: str) -> str:
        pairs = ((("of", "|".join(r.name for r in self.of)),) if self.of else ()) + self.options
        opts = "_".join(f"{k}={v}" for k, v in pairs)
        key = f"{self.model}{'_' + opts if opts else ''}_seed{seed}_{video_rule}"
        if self.preset != PRESET:
            key = f"{self.preset}-{key}"
        return re.sub(r"[^A-Za-z0-9=._+-]+", "-", key)

    def named(self, name: str, reference: Row | None = None) -> Row:
        """This row's run shown under another name (and reference): one run, declared."""
        return Row(name, self.model, self.options, reference, self.store, self.train,
                   self.preset, self.of, shares=self, recipe=self.recipe)


@dataclass
class Table:
    key: str
    title: str
    video_rule: str  # the paper's protocol: 000 votes over clips, 002 averages clip scores
    seeds: str  # "seeds" or "sweep_seeds"
    rows: list[Row] = field(default_factory=list)
    train: dict = field(default_factory=dict)  # training settings of this paper's protocol
    store: str = "features"  # the store under OUT/ it reads (STORES)
    validation: bool = False  # show the selected checkpoint's validation top-1 (a sweep that
    # picks a default: the choice is made on that column, never on test)
    also: tuple = ()  # (row, reference) pairs compared below the table (a paper's other rows)
    archived: bool = False  # runs of a model since changed: rendered from results, never run
    notes: tuple[Callable, ...] = ()  # functions (table, results, seeds) -> a line under it
    options: dict | None = None  # model options every row gets where its model has them
    # ({"hidden": HIDDEN}; not in the run keys); every table names them (catalog.check)


@dataclass(frozen=True)
class Claim:
    paper: str
    text: str
    figure: str  # the paper's own rows and dataset
    table: Table
    row: Row
    reference: Row  # the claim: row over reference
    # the paper's own gains, points, on the datasets ``figure`` quotes (empty: no figure given);
    # the verdict rules (retest/RULES.md) read their mean
    gains: tuple[float, ...] = ()
    added_later: bool = False  # came in after its result: shown, outside the family


A = "[att] "  # the claims' rows' names (unique across tables)


def att_row(name: str, model: str, options=(), reference: Row | None = None, train=(),
            of=(), shares: Row | None = None, recipe: str | None = None) -> Row:
    """A row on the attention preset (issue 21)."""
    return Row(name, model, tuple(options), reference, train=tuple(train), preset="attention",
               of=tuple(of), shares=shares, recipe=recipe)
