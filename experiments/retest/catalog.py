"""Every table of the re-test in the order the runner and the pages show them, the claims in
the order the README lists them, and the checks that hold them together (run at import)."""

from __future__ import annotations

from retest import p000, p001, p002, p003, p004, streams
from retest.rows import Row, Table

CLAIM_TABLES = [*p000.CLAIM_TABLES, *p002.CLAIM_TABLES, *p001.CLAIM_TABLES,
                *p003.CLAIM_TABLES, *p004.CLAIM_TABLES]
TABLES = [p000.TABLES[0], *p002.TABLES, *p000.TABLES[1:], *p001.TABLES, *p003.TABLES,
          *p004.TABLES, *streams.FLOW_TABLES, *streams.ATTENTION_TABLES, *CLAIM_TABLES]
CLAIMS = [*p000.CLAIMS, *p002.CLAIMS, *p001.CLAIMS, *p003.CLAIMS, *p004.CLAIMS]


def owner(row: Row, table: Table, tables: list[Table] = TABLES) -> Table:
    """The running table (``table`` first) that holds ``row``: score fusion and test-time rows
    read the run of a row under its own table's protocol (its store and settings)."""
    found = next((t for t in [table, *tables] if not t.archived and row in t.rows), None)
    if found is None:
        raise KeyError(f"no running table holds the row '{row.name}'")
    return found


def check(tables: list[Table] = TABLES, claims=CLAIMS) -> None:
    """Refuse a catalog whose rows do not hold together: a table without its model options, a
    reference, a compared pair or a claim's row outside its table, a fused or tested row that
    no running table holds, or two rows of one run key under two names where neither declares
    it shows the other's run (``Row.named``)."""
    keys: dict[str, Row] = {}
    for t in tables:
        if t.options is None:
            raise ValueError(f"{t.key}: name the model options every row gets (options=...)")
        for r in t.rows:
            if r.reference is not None and r.reference not in t.rows:
                raise ValueError(f"{t.key}: '{r.name}' refers to '{r.reference.name}', not a row "
                                 f"of this table")
            if not t.archived:
                for part in r.of:
                    owner(part, t, tables)
            key = r.key(0, t.video_rule)
            other = keys.setdefault(key, r)
            if other.name != r.name and r.shares != other and other.shares != r and \
                    (r.shares is None or r.shares != other.shares):
                raise ValueError(f"'{r.name}' and '{other.name}' are one run ({key}): declare "
                                 f"it with Row.named")
        for row, ref in t.also:
            if row not in t.rows or ref not in t.rows:
                raise ValueError(f"{t.key}: a compared pair outside the table "
                                 f"('{row.name}' against '{ref.name}')")
    for c in claims:
        if c.row not in c.table.rows or c.reference not in c.table.rows:
            raise ValueError(f"claim '{c.text}': its rows are not in {c.table.key}")


check()
