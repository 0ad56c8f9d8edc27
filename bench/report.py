"""Turns the benchmark's measurements (a TSV of name, value) into one table
with ratios to the constant route and PASS/FAIL against SPEC §6, and writes
them as JSON.  Usage: python3 bench/report.py RESULTS.tsv OUT.json"""
import json
import sys

values = {}
with open(sys.argv[1]) as f:
    for line in f:
        name, value = line.rstrip("\n").split("\t")
        values[name] = float(value)

yardsticks = [v for k, v in values.items()
              if k.endswith(".yardstick_rps") and ".metrics_on_vs_off." not in k]
constant = sum(yardsticks) / len(yardsticks) if yardsticks else 0.0
rows = []  # (what, measured, target, pass)


def ratio_row(backend, call, min_ratio, max_p99=None):
    """min_ratio None: SPEC §6 sets no target; measured and shown only."""
    rps = values.get(f"{backend}.{call}.rps")
    if rps is None:
        return
    # Against the yardstick measured in the same alternating slices.
    yardstick = values.get(f"{backend}.{call}.yardstick_rps", 0.0)
    ratio = rps / yardstick if yardstick else 0.0
    p99 = values.get(f"{backend}.{call}.p99_ms", 0.0)
    worst = values.get(f"{backend}.{call}.p99_worst_ms", p99)
    errors = int(values.get(f"{backend}.{call}.errors", 0))
    ok = (min_ratio is None or ratio >= min_ratio) and errors == 0
    target = "no target" if min_ratio is None else f">= {min_ratio}x"
    measured = f"{rps:,.0f}/s = {ratio:.3f}x of {yardstick:,.0f}"
    if max_p99 is not None:
        ok = ok and p99 < max_p99
        target += f", p99 < {max_p99:g} ms"
    measured += f", p99 {p99:.1f} ms (worst {worst:.1f})"
    # The machine's own tail: the yardstick's p99 in the same run. On a busy
    # host it alone can exceed the target; the verdict still holds to SPEC §6.
    yardstick_p99 = values.get(f"{backend}.{call}.yardstick_p99_ms")
    if max_p99 is not None and yardstick_p99 is not None:
        measured += f" [yardstick p99 {yardstick_p99:.1f}]"
    if errors:
        measured += f", {errors} errors"
    rows.append((f"{backend} {call}", measured, target, ok))


for backend in ("sqlite", "postgres"):
    pg = backend == "postgres"
    ratio_row(backend, "status", 0.25 if pg else 0.5, 5)
    ratio_row(backend, "authorize", 0.05 if pg else 0.12, None if pg else 50)
    ratio_row(backend, "refresh", None if pg else 0.12)
    # Beside a second instance: codes claimed in the database, and with
    # the limits on, each admission decided there (SPEC §1.3).
    ratio_row(backend, "authorize_shared", None)
    ratio_row(backend, "authorize_shared_limited", None)
    # Metrics on against off: two servers measured in alternating slices
    # (the "yardstick" of this comparison is the server with metrics off).
    on = values.get(f"{backend}.metrics_on_vs_off.rps")
    off = values.get(f"{backend}.metrics_on_vs_off.yardstick_rps")
    if on is not None and off:
        rows.append((f"{backend} status, metrics on vs off",
                     f"{on:,.0f}/s against {off:,.0f}/s = {on / off:.3f}", ">= 0.97", on / off >= 0.97))
    if f"{backend}.rss_mb" in values:
        rss = values[f"{backend}.rss_mb"]
        rows.append((f"{backend} memory after load", f"{rss:.1f} MB", "< 100 MB", rss < 100))
    if f"{backend}.rss_peak_mb" in values:
        peak = values[f"{backend}.rss_peak_mb"]
        rows.append((f"{backend} memory peak during load", f"{peak:.1f} MB", "< 100 MB", peak < 100))
    if f"{backend}.startup_ms" in values:
        ms = values[f"{backend}.startup_ms"]
        rows.append((f"{backend} start-up", f"{ms:.0f} ms", "< 1000 ms", ms < 1000))
    # The file of a million events is about 100 MB: held in memory, the
    # growth would be that at least; streamed, it is buffers and caches.
    if f"{backend}.audit_csv.rows" in values:
        rows_out = values[f"{backend}.audit_csv.rows"]
        grew = values[f"{backend}.audit_csv.rss_peak_mb"] - values[f"{backend}.audit_csv.rss_before_mb"]
        rows.append((f"{backend} audit CSV, memory growth",
                     f"{grew:.1f} MB over {rows_out:,.0f} rows in {values[f'{backend}.audit_csv.seconds']:.1f} s",
                     "< 32 MB", grew < 32))
    # One kind's events (every seeded one is a login) go on by their
    # position in the kind's index: as complete as the whole log's file.
    if f"{backend}.audit_csv_kind.rows" in values:
        rows_kind = values[f"{backend}.audit_csv_kind.rows"]
        rows.append((f"{backend} audit CSV of one kind",
                     f"{rows_kind:,.0f} rows in {values[f'{backend}.audit_csv_kind.seconds']:.1f} s",
                     "every seeded login", rows_kind >= 1_000_000))
    for name, value in values.items():
        prefix = f"{backend}.console."
        if name.startswith(prefix) and name.endswith(".median_ms"):
            page = name[len(prefix):-len(".median_ms")]
            worst = values.get(f"{prefix}{page}.max_ms", value)
            rows.append((f"{backend} console {page}", f"{value:.1f} ms (worst {worst:.1f})",
                         "< 50 ms", value < 50))

print()
print(f"constant route (the yardstick): {constant:,.0f} req/s on average over the runs; "
      f"mock WeChat alone on one core: {values.get('mock_wechat.rps', 0):,.0f} req/s")
print("each ratio is to the yardstick measured in alternating slices of the same run; "
      "p99 is the median slice's;\n[yardstick p99] is the constant route's own p99 in the same slices: the machine's tail")
width = max(len(r[0]) for r in rows) if rows else 10
mwidth = max(len(r[1]) for r in rows) if rows else 10
print(f"{'what':<{width}}  {'measured':<{mwidth}}  {'target':<22}  verdict")
for what, measured, target, ok in rows:
    print(f"{what:<{width}}  {measured:<{mwidth}}  {target:<22}  {'PASS' if ok else 'FAIL'}")

with open(sys.argv[2], "w") as f:
    json.dump({"measurements": values,
               "checks": [{"what": w, "measured": m, "target": t, "pass": ok} for w, m, t, ok in rows]},
              f, indent=2)
print(f"\n(written to {sys.argv[2]})")
