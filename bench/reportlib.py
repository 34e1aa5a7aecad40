"""What bench/report.py (guest side) and bench/hostreport.py (host side) share: reading the
BENCH-* lines, the statistics, millisecond formatting, the Markdown table and the README
block they rewrite."""
import datetime
import json
import re


def parse(path, kinds, fact_lists=()):
    """Reads the BENCH-<kind> lines of path (FACT, JSON, NOTE and FATAL always; the others in
    kinds). Returns facts {key: value}, recs (the JSON objects), notes (NOTE lines, FATAL ones
    prefixed "FATAL: ", unparsable JSON) and lists {name: [values]} of the FACT keys in
    fact_lists and of the other kinds, in the order they came."""
    facts, recs, notes = {}, [], []
    lists = {k: [] for k in tuple(fact_lists) + tuple(kinds)}
    pat = re.compile(r"^BENCH-(%s) ?(.*)$" % "|".join(("FACT", "JSON", "NOTE", "FATAL") + tuple(kinds)))
    with open(path, errors="replace") as f:
        for line in f:
            m = pat.match(line.rstrip("\r\n"))
            if not m:
                continue
            kind, rest = m.groups()
            if kind == "FACT":
                key, _, val = rest.partition(" ")
                if key in fact_lists:
                    lists[key].append(val)
                else:
                    facts[key] = val
            elif kind == "JSON":
                try:
                    recs.append(json.loads(rest))
                except ValueError:
                    notes.append("unparsable result line: " + rest[:200])
            elif kind in ("NOTE", "FATAL"):
                notes.append(("FATAL: " if kind == "FATAL" else "") + rest)
            else:
                lists[kind].append(rest)
    return facts, recs, notes, lists


def stats(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    n = len(vals)
    med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    p99 = vals[min(n - 1, max(0, -(-99 * n // 100) - 1))]  # nearest rank
    return {"n": n, "min": vals[0], "median": med, "p99": p99, "max": vals[-1]}


def fmt_ms(us):
    if us is None:
        return "-"
    return "%.1f" % (us / 1000.0) if abs(us) >= 10000 else "%.2f" % (us / 1000.0)


def fmt_stat(s):
    """min / median / p99 in ms."""
    if not s:
        return "-"
    return "%s / %s / %s" % (fmt_ms(s["min"]), fmt_ms(s["median"]), fmt_ms(s["p99"]))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def md_table(head, rows):
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return table + ["| " + " | ".join(r) + " |" for r in rows]


def update_readme(path, name, text):
    """Replaces what stands between <!-- NAME:begin --> and <!-- NAME:end --> with text."""
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    with open(path) as f:
        s = f.read()
    if begin not in s or end not in s:
        print("note: %s has no %s ... %s block; not updated" % (path, begin, end))
        return
    pre, rest = s.split(begin, 1)
    _, post = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(pre + begin + "\n" + text + "\n" + end + post)
