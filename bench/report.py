#!/usr/bin/python3
"""Turns a bench results directory (results.json + raw/) into report.md and PNG plots.

    bench/report.py RESULTS_DIR

Medians over the interleaved repetitions; ratios are taken between medians of the same run.
Python 3 standard library plus gnuplot (plots are skipped, with a note, when it is missing).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

# Reference figures from the brief: another user-space NVMe/TCP stack on this same machine
# (target core 0, host core 1, busy-polling, loopback). Not measured by this report.
REFERENCE = {
    "qd1_4k_read_ram_us": 17.5,
    "qd1_4k_read_null_us": 14.0,
    "tcp_pingpong_us": "10-11.6",
    "qd32_randread_null_iops_1core": 380_000,
    "qd32_randwrite_null_iops_1core": 480_000,
    "seq_128k_read_gbs": 4.4,
}
READ4K = "read4k-success"
READ128K = "read128k-success"
GOAL = ("nvfab's goal (from the brief): QD1 within 2 us of the raw TCP floor; 1.25x the reference IOPS "
        "per target core (475K randread, 600K randwrite at QD32 on null); lowest CPU per I/O when not "
        "busy-polling.")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, nd=1, unit=""):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 100000:
        return f"{x:,.0f}{unit}"
    return f"{x:.{nd}f}{unit}"


def kiops(x):
    return "–" if x is None else f"{x / 1000:.0f}K"


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{nd}f}x"


def diff(a, b, nd=1):
    if a is None or b is None:
        return "–"
    return f"{a - b:+.{nd}f}"


def io_name(wl, size):
    s = f"{size // 1024} KiB" if size else "?"
    return f"{s} {wl}"


class Report:
    def __init__(self, outdir):
        self.dir = outdir
        with open(os.path.join(outdir, "results.json")) as fh:
            d = json.load(fh)
        self.meta = d["meta"]
        self.recs = d["records"]
        self.lines = []
        self.cmds = {}      # command text -> id
        self.plots = []
        self.gnuplot = shutil.which("gnuplot")
        self.plot_dir = outdir

    # ---- helpers ----
    def w(self, s=""):
        self.lines.append(s)

    def cid(self, rec):
        """A short id for the command that made rec (target command + client command)."""
        key = (rec.get("target_cmd") or "", rec.get("cmd") or "")
        if key not in self.cmds:
            self.cmds[key] = f"C{len(self.cmds) + 1}"
        return self.cmds[key]

    def sel(self, **kw):
        out = []
        if kw.get("kind") == "floor" and "qd" not in kw:
            kw["qd"] = 1      # floor round trips at queue depth 1 unless asked otherwise
        for r in self.recs:
            if all(r.get(k, 1 if k == "qd" and r.get("kind") == "floor" else None) == v for k, v in kw.items()):
                out.append(r)
        return out

    def m(self, recs, path):
        vals = []
        for r in recs:
            cur = r
            for p in path.split("."):
                cur = cur.get(p) if isinstance(cur, dict) else None
            vals.append(cur)
        return med(vals)

    def per_rep(self, recs, path):
        by = {}
        for r in recs:
            by.setdefault(r.get("rep"), []).append(r)
        return {k: self.m(v, path) for k, v in by.items()}

    def paired(self, a, b, path, op):
        """Median over repetitions of op(a, b), each taken within one repetition: the runs of a
        repetition sit next to each other in time, so drift between repetitions cancels."""
        pa, pb = self.per_rep(a, path), self.per_rep(b, path)
        vals = [op(pa[k], pb[k]) for k in pa if k in pb and pa[k] is not None and pb[k] is not None]
        return med(vals)

    def pdiff(self, a, b, path, nd=1):
        v = self.paired(a, b, path, lambda x, y: x - y)
        return "–" if v is None else f"{v:+.{nd}f}"

    def pratio(self, a, b, path, nd=2):
        v = self.paired(a, b, path, lambda x, y: x / y if y else None)
        return "–" if v is None else f"{v:.{nd}f}x"

    def cids(self, recs):
        ids = ",".join(sorted({self.cid(r) for r in recs}, key=lambda c: int(c[1:]))) or "–"
        if any((r.get("acct") or {}).get("noisy") for r in recs):
            ids += " †"
        return ids

    def modes(self):
        ms = {r.get("mode") for r in self.recs if r.get("mode")}
        return [x for x in ("busy", "event") if x in ms]

    # ---- plotting ----
    def plot(self, name, script, data):
        """data: {filename: text}. Returns the markdown image line (or a note)."""
        pdir = self.plot_dir
        for fn, text in data.items():
            with open(os.path.join(pdir, fn), "w") as fh:
                fh.write(text)
        gp = os.path.join(pdir, name + ".gp")
        with open(gp, "w") as fh:
            fh.write(f"set terminal pngcairo size 960,540 font 'sans,10'\nset output '{name}.png'\n" + script)
        if not self.gnuplot:
            return f"(plot {name}.png not drawn: gnuplot is not installed; its script is {name}.gp)"
        p = subprocess.run([self.gnuplot, name + ".gp"], cwd=pdir, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return f"(plot {name}.png failed: {p.stderr.strip()[:300]})"
        self.plots.append(name + ".png")
        return f"![{name}]({name}.png)"

    # ---- sections ----
    def header(self):
        m = self.meta
        mach = m.get("machine") or {}
        cfg = m.get("config") or {}
        self.w(f"# nvfab benchmark report: {m.get('date', '?')} on {mach.get('hostname', '?')}")
        self.w()
        dirty = m.get("dirty_files") or 0
        bins = m.get("binaries") or {}
        built = ", ".join(f"{k.split('/')[-1]} built {v['built']}" for k, v in bins.items())
        self.w(f"- **Commit** `{m.get('commit', '?')}` at the start of the run"
               + (f", plus {dirty} uncommitted file(s) in the work tree" if dirty else "")
               + (f"; binaries copied at the start ({built})" if built else ""))
        self.w(f"- **Machine** {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, {mach.get('mem_gib', '?')} GiB, "
               f"Linux {mach.get('kernel', '?')}, {mach.get('os', '?')}")
        self.w(f"- **Mode** `{m.get('mode')}`: {cfg.get('reps')} repetition(s), interleaved (each repetition runs every "
               f"configuration once, in the same order), {cfg.get('secs')} s per measurement; tables show the median "
               f"over repetitions; run took {m.get('duration_s', 0) / 60:.1f} min")
        self.w("- **Placement** nvfabd on core 0 (`taskset -c 0`, `-m 0x1`), host on core 1 (`taskset -c 1`). "
               "Two-reactor runs use `-m 0x3` on cores 0-1, so reactor 1 shares core 1 with the host. "
               "`busy` = nvfabd `-b` and the host busy-polling; `event` = both sleep in epoll/recv.")
        lb = m.get("load_before")
        fb = m.get("foreign_before") or []
        fc = [r["acct"]["foreign_cpu_pct"] for r in self.recs if r.get("acct") and r["acct"].get("foreign_cpu_pct") is not None]
        noise = f"- **Noise** load average {lb} at start" if lb else "- **Noise**"
        if fb:
            noise += "; other busy processes at start: " + ", ".join(f"{n} {p}%" for n, p in fb)
        if fc:
            noise += (f"; CPU used by other processes during measurements: median {med(fc):.0f}%, "
                      f"max {max(fc):.0f}% of the machine")
        mf = m.get("max_foreign", 15)
        self.w(noise + f". A measurement during which other processes took more than {mf:.0f}% of the machine is "
               f"repeated (up to {m.get('retries', 0)} more tries, the quietest kept); **†** marks figures that stayed "
               "disturbed. Averages suffer most from disturbance (scheduler delays of milliseconds); p50 least. "
               "Figures drift ~15% from run to run: compare within one report.")
        self.w(f"- **Reproduce** `make bench FULL=1` (= `bench/run.sh build --full`); this report: "
               f"`bench/report.py {os.path.basename(self.dir)}`. Command ids like [C3] are listed under *Commands*.")
        if m.get("perf_error"):
            self.w(f"- **nvfab perf unavailable**: {m['perf_error'].splitlines()[0]}")
        if m.get("failures"):
            self.w(f"- **{len(m['failures'])} measurement(s) failed**: see *Failures* at the end.")
        self.w()

    def headline(self):
        self.w("## Headline")
        self.w()
        rows = []
        for mode in self.modes():
            fl = self.sel(kind="floor", io=READ4K, mode=mode)
            fl_avg = self.m(fl, "result.avg")
            for bdev in ("ram", "null"):
                rem = self.sel(kind="remote", section="latency", bdev=bdev, workload="randread", io_size=4096, mode=mode)
                loc = self.sel(kind="local", section="latency", bdev=bdev, workload="randread", io_size=4096, mode=mode)
                if not rem:
                    continue
                ra = self.m(rem, "result.avg")
                rows.append(f"| QD1 4 KiB read, {bdev}, {mode} | {f(ra, 2)} us avg ({f(self.m(rem, 'result.p50'), 2)} p50) | "
                            f"floor {f(fl_avg, 2)} us: **{self.pdiff(rem, fl, 'result.avg', 2)} us**, "
                            f"{self.pratio(rem, fl, 'result.avg')}; "
                            f"local {f(self.m(loc, 'result.avg'), 2)} us | "
                            f"{REFERENCE['qd1_4k_read_' + bdev + '_us']} us (busy) | {self.cids(rem + fl)} |")
        for mode in self.modes():
            for wl in ("randread", "randwrite"):
                rec = self.sel(kind="remote", section="iops", bdev="null", workload=wl, qd=32, mode=mode, reactors=1)
                if rec:
                    io = self.m(rec, "result.iops")
                    refv = REFERENCE[f"qd32_{wl}_null_iops_1core"]
                    rows.append(f"| QD32 4 KiB {wl}, null, 1 reactor, {mode} | {kiops(io)} IOPS | "
                                f"{ratio(io, refv)} the reference; goal {kiops(refv * 1.25)} | {kiops(refv)} | {self.cids(rec)} |")
        for mode in self.modes():
            rec = self.sel(kind="remote", section="bw", bdev="null", workload="read", mode=mode, reactors=1)
            st = self.sel(kind="floor_stream", dir="read", mode=mode)
            if rec:
                mb = self.m(rec, "result.mib_s")
                fs = self.m(st, "result.mib_s")
                rows.append(f"| 128 KiB read QD{rec[0]['qd']}, null, 1 reactor, {mode} | {f(mb, 0)} MiB/s | "
                            f"{self.pratio(rec, st, 'result.mib_s')} the TCP stream floor ({f(fs, 0)} MiB/s) | "
                            f"{REFERENCE['seq_128k_read_gbs']} GB/s | {self.cids(rec + st)} |")
        ev = self.sel(kind="remote", section="iops", bdev="null", workload="randread", qd=32, mode="event", reactors=1)
        if ev:
            rows.append(f"| CPU per I/O, QD32 4 KiB randread, null, event | target {f(self.m(ev, 'acct.target_cpu_us_per_io'), 2)} us, "
                        f"host {f(self.m(ev, 'acct.host_cpu_us_per_io'), 2)} us | | | {self.cids(ev)} |")
        for r in self.sel(kind="callgrind", workload="randread", qd=1):
            rows.append(f"| Instructions per QD1 4 KiB read, null (callgrind, user space), "
                        f"{'nvfabd' if r['side'] == 'target' else 'nvfab perf'} | {f(r['ir_per_io'], 0)} "
                        f"({f(r.get('ir_per_io_without_string_ops'), 0)} without mem*) | | | {self.cid(r)} |")
        if rows:
            self.w("| measure | nvfab | compared with | reference (brief, not measured here) | cmd |")
            self.w("|---|---|---|---|---|")
            for r in rows:
                self.w(r)
        else:
            self.w("No nvfab measurements in this run.")
        self.w()
        self.w("Reference figures are **from the brief, not measured by this report**: another user-space NVMe/TCP "
               f"stack on this same machine (target core 0, host core 1, busy-polling, loopback): QD1 4 KiB read "
               f"{REFERENCE['qd1_4k_read_ram_us']} us from RAM and {REFERENCE['qd1_4k_read_null_us']} us from null; "
               f"raw TCP ping-pong of the same bytes {REFERENCE['tcp_pingpong_us']} us; at QD32 ~380K random reads and "
               f"480K random writes per second with one target core on null; {REFERENCE['seq_128k_read_gbs']} GB/s "
               f"of 128 KiB reads. {GOAL}")
        self.w()

    def floor(self):
        self.w("## 1. Floor: raw TCP on the same path")
        self.w()
        self.w("`nvfab-floor` (bench/tcp_floor.c) exchanges exactly the bytes of one NVMe/TCP I/O over loopback "
               "TCP between core 0 and core 1 with nothing else: one `sendmsg` per direction and round trip (PDU "
               "header, data and the next PDU as separate iovecs), `recv` until the known length is in. Busy mode "
               "spins on non-blocking `recv`; event mode blocks in `recv`. CPU per op from `getrusage` of each side.")
        self.w()
        ios = [r["io"] for r in self.sel(kind="floor", qd=1)]
        order = list(dict.fromkeys(ios))
        if order:
            self.w("| exchange | bytes out : back | mode | avg | p50 | p99 | p99.9 us | round trips/s | CPU us/op client + server | cmd |")
            self.w("|---|---|---|---|---|---|---|---|---|---|")
            pats = {"read4k": "72 : 24+4096+24", "read4k-success": "72 : 24+4096", "write4k": "72+4096 : 24",
                    "read128k": "72 : 24+131072+24", "read128k-success": "72 : 24+131072",
                    "write128k": "72 : 24 (R2T), 24+131072 : 24"}
            for io in order:
                for mode in self.modes():
                    rs = self.sel(kind="floor", io=io, mode=mode)
                    if not rs:
                        continue
                    self.w(f"| {io} | {pats.get(io, '?')} | {mode} | {f(self.m(rs, 'result.avg'), 2)} | "
                           f"{f(self.m(rs, 'result.p50'), 2)} | {f(self.m(rs, 'result.p99'), 2)} | "
                           f"{f(self.m(rs, 'result.p99_9'), 2)} | {f(self.m(rs, 'result.ops_per_s'), 0)} | "
                           f"{f(self.m(rs, 'result.client_cpu_us'), 2)} + {f(self.m(rs, 'result.server_cpu_us'), 2)} | "
                           f"{self.cids(rs)} |")
            self.w()
        st = self.sel(kind="floor_stream")
        if st:
            self.w("| stream, 128 KiB messages | mode | MiB/s | CPU us/msg sender + receiver | cmd |")
            self.w("|---|---|---|---|---|")
            for d in ("read", "write"):
                for mode in self.modes():
                    rs = self.sel(kind="floor_stream", dir=d, mode=mode)
                    if rs:
                        snd, rcv = ("server", "client") if d == "read" else ("client", "server")
                        self.w(f"| {d} (core {0 if d == 'read' else 1} sends) | {mode} | {f(self.m(rs, 'result.mib_s'), 0)} | "
                               f"{f(self.m(rs, 'result.' + snd + '_cpu_us'), 1)} + {f(self.m(rs, 'result.' + rcv + '_cpu_us'), 1)} | "
                               f"{self.cids(rs)} |")
            self.w()

    def latency(self):
        self.w("## 2. Latency at QD1")
        self.w()
        lat = self.sel(section="latency")
        if not lat:
            self.w("Not measured in this run (nvfab perf unavailable or section skipped).")
            self.w()
            return
        self.w("Cells are avg / p50 / p99 / p99.9 in us, medians over repetitions. *Fabric overhead* is remote minus "
               "local (the direct-attached baseline, `nvfab perf --local`, same bdev in-process); *vs floor* compares "
               "remote with the raw TCP exchange of the same bytes (section 1: reads against `read4k-success` and "
               "`read128k-success`, since nvfab's host disables SQ flow control and the target then ends a read with a "
               "C2HData SUCCESS PDU instead of a CapsuleResp; 4 KiB writes against `write4k`, in-capsule; 128 KiB "
               "writes against `write128k`, with its R2T round trip). Differences and ratios are taken within each "
               "repetition (runs next to each other in time), then the median over repetitions: the machine drifts "
               "between repetitions.")
        self.w()
        combos = list(dict.fromkeys((r["bdev"], r["workload"], r["io_size"]) for r in lat))
        for mode in self.modes():
            self.w(f"**{mode}**")
            self.w()
            self.w("| bdev | I/O | local | remote | floor | overhead avg (p50) | remote − floor avg (p50) | remote / floor | cmd |")
            self.w("|---|---|---|---|---|---|---|---|---|")
            for bdev, wl, size in combos:
                loc = self.sel(kind="local", section="latency", bdev=bdev, workload=wl, io_size=size, mode=mode)
                rem = self.sel(kind="remote", section="latency", bdev=bdev, workload=wl, io_size=size, mode=mode)
                fl = self.sel(kind="floor", io=self.floor_io(wl, size), mode=mode)
                if not (loc or rem):
                    continue

                def cell(rs, key="result"):
                    return " / ".join(f(self.m(rs, f"{key}.{p}"), 1) for p in ("avg", "p50", "p99", "p99_9"))
                ra, la, fa = self.m(rem, "result.avg"), self.m(loc, "result.avg"), self.m(fl, "result.avg")
                rp, lp, fp = self.m(rem, "result.p50"), self.m(loc, "result.p50"), self.m(fl, "result.p50")
                self.w(f"| {bdev} | {io_name(wl, size)} | {cell(loc)} | {cell(rem)} | {cell(fl)} | "
                       f"{self.pdiff(rem, loc, 'result.avg')} ({self.pdiff(rem, loc, 'result.p50')}) | "
                       f"{self.pdiff(rem, fl, 'result.avg')} ({self.pdiff(rem, fl, 'result.p50')}) | "
                       f"{self.pratio(rem, fl, 'result.avg')} | {self.cids(loc + rem + fl)} |")
            self.w()
        # Headline statement
        for mode in self.modes():
            rem = self.sel(kind="remote", section="latency", workload="randread", io_size=4096, mode=mode)
            fl = self.sel(kind="floor", io=READ4K, mode=mode)
            for bdev in ("ram", "null"):
                rb = [r for r in rem if r["bdev"] == bdev]
                if rb and fl:
                    per = self.per_rep(rb, "result.avg")
                    fper = self.per_rep(fl, "result.avg")
                    reps = "; ".join(f"{per[k] - fper[k]:+.2f} ({per[k]:.2f} vs {fper[k]:.2f})"
                                     for k in sorted(per) if k in fper and per[k] is not None and fper[k] is not None)
                    self.w(f"- QD1 4 KiB read overhead over the floor, {bdev}, {mode}: **{self.pdiff(rb, fl, 'result.avg', 2)} us** "
                           f"avg, {self.pdiff(rb, fl, 'result.p50', 2)} us p50 (median of the repetitions; each "
                           f"repetition's avg: {reps} us). Goal: +2 us.")
        self.w()
        self.w(self.hist_plot())
        self.w()
        self.w(self.pct_plot())
        self.w()

    @staticmethod
    def floor_io(wl, size):
        # nvfab's host disables SQ flow control, so reads end with a C2HData SUCCESS PDU and no
        # CapsuleResp: the "-success" exchanges are the matching floor.
        return {("randread", 4096): READ4K, ("read", 4096): READ4K, ("randwrite", 4096): "write4k",
                ("write", 4096): "write4k", ("randread", 131072): READ128K, ("read", 131072): READ128K,
                ("randwrite", 131072): "write128k", ("write", 131072): "write128k"}.get((wl, size))

    def hist_plot(self):
        series = []
        mode = "busy" if "busy" in self.modes() else (self.modes() or ["event"])[0]
        cand = [(f"floor {READ4K}", self.sel(kind="floor", io=READ4K, mode=mode))]
        for bdev in ("ram", "null"):
            # (local runs take ~0.1 us: they would squash the plot; the percentile plot has them)
            cand.append((f"nvfab remote {bdev}", self.sel(kind="remote", section="latency", bdev=bdev,
                                                         workload="randread", io_size=4096, mode=mode)))
        for label, rs in cand:
            bins = {}
            for r in rs:
                for us, cnt in r.get("histogram") or []:
                    b = round(float(us) * 10) / 10
                    bins[b] = bins.get(b, 0) + cnt
            tot = sum(bins.values())
            if tot:
                series.append((label, bins, tot))
        if not series:
            return "(no latency histogram: the runs gave none)"
        note = ""
        if not any(lbl.startswith("nvfab") for lbl, _, _ in series):
            note = ("\n\n`nvfab perf --json` gives percentiles but no histogram buckets, so the histogram shows "
                    "the floor only; the percentile plot below compares all of them.")
        # x range: from the smallest p0.1 to the largest p99.5
        lo, hi = 1e9, 0
        for _, bins, tot in series:
            acc = 0
            for b in sorted(bins):
                acc += bins[b]
                if acc >= 0.001 * tot:
                    lo = min(lo, b)
                    break
            acc = 0
            for b in sorted(bins):
                acc += bins[b]
                if acc >= 0.995 * tot:
                    hi = max(hi, b)
                    break
        data = {}
        plots = []
        for i, (label, bins, tot) in enumerate(series):
            fn = f"hist_{i}.dat"
            data[fn] = "".join(f"{b:.1f} {bins[b] / tot * 100:.4f}\n" for b in sorted(bins))
            plots.append(f"'{fn}' using 1:2 with steps lw 2 title '{label}'")
        script = (f"set title 'QD1 4 KiB random read latency, {mode} mode (0.1 us bins, all repetitions)'\n"
                  f"set xlabel 'latency (us)'\nset ylabel '% of I/Os per 0.1 us'\nset grid\n"
                  f"set xrange [{max(0, lo - 1):.1f}:{hi + 1:.1f}]\nset key top right\n"
                  f"plot " + ", ".join(plots) + "\n")
        return self.plot("latency_hist_qd1_4k_read", script, data) + note

    def pct_plot(self):
        """Latency percentiles of QD1 4 KiB reads: floor, remote and local, both modes."""
        keys = [("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99)]
        data, plots = {}, []
        for mode in self.modes():
            cand = [(f"floor {READ4K}, {mode}", self.sel(kind="floor", io=READ4K, mode=mode))]
            for bdev in ("ram", "null"):
                for kind in ("remote", "local"):
                    cand.append((f"{'nvfab' if kind == 'remote' else 'local'} {bdev}, {mode}",
                                 self.sel(kind=kind, section="latency", bdev=bdev, workload="randread",
                                          io_size=4096, mode=mode)))
            for label, rs in cand:
                pts = [(i, self.m(rs, f"result.{k}")) for i, (k, _) in enumerate(keys)]
                pts = [(i, v) for i, v in pts if v]
                if not pts:
                    continue
                fn = "pct_" + label.replace(" ", "_").replace(",", "") + ".dat"
                data[fn] = "".join(f"{i} {v:.3f}\n" for i, v in pts)
                dash = "" if mode == "busy" else " dt 2"
                plots.append(f"'{fn}' using 1:2 with linespoints lw 2{dash} title '{label}'")
        if not plots:
            return ""
        xt = ", ".join(f"'{k.replace('_', '.')}' {i}" for i, (k, _) in enumerate(keys))
        script = ("set title 'QD1 4 KiB random read: latency percentiles (medians over repetitions)'\n"
                  f"set xtics ({xt})\nset xrange [-0.2:{len(keys) - 0.8}]\nset ylabel 'latency (us)'\n"
                  "set logscale y\nset grid\nset key top left\nplot " + ", ".join(plots) + "\n")
        return self.plot("latency_percentiles_qd1_4k_read", script, data)

    def iops(self):
        self.w("## 3. Throughput")
        self.w()
        recs = self.sel(kind="remote", bdev="null", io_size=4096)
        recs = [r for r in recs if r["section"] in ("iops", "latency")]
        if not recs:
            self.w("Not measured in this run.")
            self.w()
            return
        qds = sorted({r["qd"] for r in recs})
        for wl in ("randread", "randwrite"):
            self.w(f"**4 KiB {wl}, null bdev: IOPS by queue depth** (per target core = IOPS / reactors; "
                   f"reference at QD32 with one core: {kiops(REFERENCE['qd32_' + wl + '_null_iops_1core'])}, "
                   f"goal {kiops(REFERENCE['qd32_' + wl + '_null_iops_1core'] * 1.25)})")
            self.w()
            self.w("| reactors | mode | " + " | ".join(f"QD{q}" for q in qds) + " | avg latency at QD32 | cmd |")
            self.w("|---|---|" + "---|" * len(qds) + "---|---|")
            data = {}
            plots = []
            for reactors in (1, 2):
                for mode in self.modes():
                    row = []
                    pts = []
                    used = []
                    for q in qds:
                        rs = [r for r in recs if r["workload"] == wl and r["qd"] == q and r["mode"] == mode
                              and r.get("reactors") == reactors and r.get("conns", 1) == 1]
                        v = self.m(rs, "result.iops")
                        used += rs
                        row.append(kiops(v))
                        if v:
                            pts.append((q, v))
                    if not pts:
                        continue
                    q32 = [r for r in used if r["qd"] == 32]
                    self.w(f"| {reactors} | {mode} | " + " | ".join(row) + f" | {f(self.m(q32, 'result.avg'), 1)} us | {self.cids(used)} |")
                    fn = f"iops_{wl}_r{reactors}_{mode}.dat"
                    data[fn] = "".join(f"{q} {v / 1000:.1f}\n" for q, v in pts)
                    plots.append(f"'{fn}' using 1:2 with linespoints lw 2 title '{reactors} reactor{'s' if reactors > 1 else ''}, {mode}'")
            fio = "read4k-success" if wl == "randread" else "write4k"
            for mode in self.modes():
                row, pts, used = [], [], []
                for q in qds:
                    fr = self.sel(kind="floor", io=fio, qd=q, mode=mode)
                    used += fr
                    v = self.m(fr, "result.ops_per_s")
                    row.append(kiops(v) if v else "")
                    if v:
                        pts.append((q, v))
                if pts:
                    f32 = [r for r in used if r.get("qd") == 32]
                    self.w(f"| raw TCP floor (`{fio}`) | {mode} | " + " | ".join(row) +
                           f" | {f(self.m(f32, 'result.avg'), 1)} us | {self.cids(used)} |")
                    fn = f"floor_{wl}_{mode}.dat"
                    data[fn] = "".join(f"{q} {v / 1000:.1f}\n" for q, v in pts)
                    plots.append(f"'{fn}' using 1:2 with linespoints dt 3 lw 2 lc rgb '{'#555555' if mode == 'busy' else '#aaaaaa'}' "
                                 f"title 'raw TCP floor, {mode}'")
            loc = self.sel(kind="local", section="iops", bdev="null", workload=wl, qd=32)
            for mode in self.modes():
                lm = [r for r in loc if r["mode"] == mode]
                if lm:
                    self.w(f"| local (no fabric) | {mode} | " + " | ".join(
                        kiops(self.m(lm, 'result.iops')) if q == 32 else "" for q in qds) + f" | {f(self.m(lm, 'result.avg'), 1)} us | {self.cids(lm)} |")
            ram = self.sel(kind="remote", section="iops", bdev="ram", workload=wl, qd=32)
            for reactors in (1, 2):
                for mode in self.modes():
                    rm = [r for r in ram if r["mode"] == mode and r.get("reactors") == reactors]
                    if rm:
                        self.w(f"| {reactors}, **ram** bdev | {mode} | " + " | ".join(
                            kiops(self.m(rm, 'result.iops')) if q == 32 else "" for q in qds) + f" | {f(self.m(rm, 'result.avg'), 1)} us | {self.cids(rm)} |")
            self.w()
            if plots:
                refv = REFERENCE[f"qd32_{wl}_null_iops_1core"] / 1000
                data[f"ref_{wl}.dat"] = f"32 {refv}\n"
                plots.append(f"'ref_{wl}.dat' using 1:2 with points pt 7 ps 2 lc rgb 'black' title 'reference (brief, not measured)'")
                script = (f"set title '4 KiB {wl}, null bdev: IOPS vs queue depth (medians)'\n"
                          "set xlabel 'queue depth'\nset ylabel 'kIOPS (log scale)'\nset logscale x 2\n"
                          "set logscale y 10\nset grid\nset key bottom right\nset yrange [1:*]\n"
                          "plot " + ", ".join(plots) + "\n")
                self.w(self.plot(f"iops_vs_qd_{wl}", script, data))
                self.w()
        bw = self.sel(kind="remote", section="bw")
        if bw:
            self.w("**128 KiB sequential, null bdev, QD%d** against the raw TCP stream (section 1)" % bw[0]["qd"])
            self.w()
            self.w("| I/O | reactors | mode | MiB/s | raw TCP, same bytes and QD, MiB/s | TCP stream MiB/s | nvfab / stream | target CPU us/IO | cmd |")
            self.w("|---|---|---|---|---|---|---|---|---|")
            for wl in ("read", "write"):
                for reactors in (1, 2):
                    for mode in self.modes():
                        rs = [r for r in bw if r["workload"] == wl and r.get("reactors") == reactors and r["mode"] == mode]
                        if not rs:
                            continue
                        st = self.sel(kind="floor_stream", dir=wl, mode=mode)
                        fp = self.sel(kind="floor", io="read128k-success" if wl == "read" else "write128k-1rt",
                                      qd=rs[0]["qd"], mode=mode)
                        fpv = self.m(fp, "result.ops_per_s")
                        v, fv = self.m(rs, "result.mib_s"), self.m(st, "result.mib_s")
                        self.w(f"| 128 KiB {wl} | {reactors} | {mode} | {f(v, 0)} | {f(fpv * 0.125 if fpv else None, 0)} | "
                               f"{f(fv, 0)} | {self.pratio(rs, st, 'result.mib_s')} | "
                               f"{f(self.m(rs, 'acct.target_cpu_us_per_io'), 1)} | {self.cids(rs + st + fp)} |")
            self.w()
            self.w(f"Reference (brief, not measured): {REFERENCE['seq_128k_read_gbs']} GB/s "
                   f"= {REFERENCE['seq_128k_read_gbs'] * 1e9 / 1048576:.0f} MiB/s of 128 KiB reads.")
            self.w()

    def cpu(self):
        self.w("## 4. CPU efficiency")
        self.w()
        rows = []
        for section, wl, size, qd in (("latency", "randread", 4096, 1), ("latency", "randwrite", 4096, 1),
                                      ("iops", "randread", 4096, 32), ("iops", "randwrite", 4096, 32),
                                      ("iops", "randread", 4096, 128), ("bw", "read", 131072, 32),
                                      ("bw", "write", 131072, 32)):
            for mode in self.modes():
                rs = self.sel(kind="remote", section=section, bdev="null", workload=wl, io_size=size, qd=qd,
                              mode=mode, reactors=1)
                if not rs:
                    continue
                tt = self.m(rs, "acct.target_cpu_us_per_io")
                hh = self.m(rs, "acct.host_cpu_us_per_io")
                util = med([r["acct"]["target_cpu_s"] / r["acct"]["wall_s"] * 100 for r in rs
                            if r["acct"].get("target_cpu_s") is not None and r["acct"].get("wall_s")])
                fio = self.floor_io(wl, size) if qd == 1 else None
                fl = self.sel(kind="floor", io=fio, mode=mode) if fio else []
                fcpu = (f"{f(self.m(fl, 'result.server_cpu_us'), 2)} + {f(self.m(fl, 'result.client_cpu_us'), 2)}"
                        if fl else "")
                rows.append(f"| {io_name(wl, size)} QD{qd} | {mode} | {f(tt, 2)} | {f(hh, 2)} | "
                            f"{f((tt or 0) + (hh or 0), 2) if tt is not None and hh is not None else '–'} | "
                            f"{f(util, 0)}% | {fcpu} | {self.cids(rs + fl)} |")
        if rows:
            self.w("CPU time per I/O in us (user + system) from `/proc/PID/task/*/schedstat` of nvfabd and `wait4()` "
                   "rusage of the `nvfab perf` process, over the whole run divided by the I/Os it completed "
                   "(null bdev, one reactor). In busy mode both sides spin, so CPU per I/O there mostly measures "
                   "elapsed time; compare event-mode rows. The floor column is the raw TCP exchange's CPU per round "
                   "trip, server + client.")
            self.w()
            self.w("| I/O | mode | target us/IO | host us/IO | total | target core busy | floor us/op (target + host side) | cmd |")
            self.w("|---|---|---|---|---|---|---|---|")
            for r in rows:
                self.w(r)
            self.w()
        cg = self.sel(kind="callgrind")
        if cg:
            self.w("**Instructions per I/O** (user space only; `valgrind --tool=callgrind`). Each figure comes from two "
                   "runs with different I/O counts on a fresh process: (Ir of the longer − Ir of the shorter) / "
                   "(difference in I/Os), which cancels start-up, connection set-up and shutdown. Event-driven mode "
                   "(busy-polling would count idle spins). Kernel work (TCP, syscalls) is not counted: see "
                   "docs/performance.md for the perf sampling profile.")
            self.w()
            self.w("Valgrind counts each iteration of a `rep stosb`/`rep movsb` (glibc's memset/memcpy for large "
                   "sizes) as one instruction, so a 4 KiB memset shows as ~4,100 Ir although it takes ~100 cycles; "
                   "the second column leaves the mem* functions out.")
            self.w()
            self.w("| side | workload | Ir per I/O | without mem* | I/Os (short, long run) | top functions (self Ir per I/O) | cmd |")
            self.w("|---|---|---|---|---|---|---|")
            for r in cg:
                top = ", ".join(f"{x['fn'].split(':')[-1]} {x['self']:.0f}" for x in r["functions"][:6])
                self.w(f"| {'nvfabd' if r['side'] == 'target' else 'nvfab perf'} | 4 KiB {r['workload']} QD{r['qd']}, null | "
                       f"**{f(r['ir_per_io'], 0)}** | {f(r.get('ir_per_io_without_string_ops'), 0)} | "
                       f"{r['ios'][0]}, {r['ios'][1]} | {top} | {self.cid(r)} |")
            self.w()
            for r in cg:
                if r["workload"] != "randread" or r["qd"] != 1:
                    continue
                self.w(f"Top functions, {'nvfabd' if r['side'] == 'target' else 'nvfab perf'}, QD1 4 KiB randread "
                       "(Ir per I/O, self and inclusive):")
                self.w()
                self.w("| function | self | inclusive |")
                self.w("|---|---|---|")
                for x in r["functions"][:20]:
                    self.w(f"| `{x['fn']}` | {x['self']:.0f} | {x['incl']:.0f} |")
                self.w()
            self.w("Callgrind outputs are kept beside this report (`callgrind.*.out`): "
                   "`callgrind_annotate --inclusive=yes FILE` shows the call tree.")
            self.w()
        sc = self.sel(kind="syscalls")
        if sc:
            self.w("**System calls per I/O** (`perf stat -e syscalls:sys_enter_*` on nvfabd and on the host, null). "
                   "In busy mode the idle spins (epoll_wait with timeout 0, recv returning EAGAIN) count too. The "
                   "floor makes one send and one recv per side and I/O.")
            self.w()
            self.w("| workload | mode | nvfabd: total (top calls) | nvfab perf: total (top calls) | cmd |")
            self.w("|---|---|---|---|---|")
            keys = list(dict.fromkeys((r["workload"], r["qd"], r["mode"], r.get("io_size", 4096)) for r in sc))
            for wl, qd, mode, size in keys:
                cells = []
                used = []
                for side in ("target", "host"):
                    rs = [r for r in sc if r["workload"] == wl and r["qd"] == qd and r["mode"] == mode and
                          r.get("io_size", 4096) == size and r["side"] == side]
                    used += rs
                    if not rs:
                        cells.append("–")
                        continue
                    r = rs[0]
                    cells.append(f"{r['total_per_io']:.2f} (" + ", ".join(
                        f"{k} {v:.2f}" for k, v in list(r["per_io"].items())[:4] if v >= 0.005) + ")")
                self.w(f"| {size // 1024} KiB {wl} QD{qd} | {mode} | {cells[0]} | {cells[1]} | {self.cids(used)} |")
            self.w()
        pr = self.sel(kind="perf_record")
        if pr:
            self.w("Where the CPU time goes (`perf record -e cpu-clock`, QD1 4 KiB randread on null), share of samples by "
                   "object. This VM has no hardware PMU: samples land where interrupts are re-enabled, so kernel "
                   "symbol-level detail is skewed, but the user/kernel split holds.")
            self.w()
            self.w("| process | mode | kernel | own code | libc | vdso |")
            self.w("|---|---|---|---|---|---|")
            for r in pr:
                d = r.get("dso") or {}
                own = sum(v for k, v in d.items() if k in ("nvfabd", "nvfab"))
                self.w(f"| {'nvfabd' if r['side'] == 'target' else 'nvfab perf'} | {r['mode']} | "
                       f"{d.get('[kernel.kallsyms]', 0):.0f}% | {own:.0f}% | {d.get('libc.so.6', 0):.0f}% | "
                       f"{d.get('[vdso]', 0):.0f}% |")
            self.w()
            self.w("Sampling profiles (`perf record -e cpu-clock -g`, kernel included) of a QD1 4 KiB randread run: "
                   + ", ".join(f"[{r['side']} {r['mode']}]({r['report']})" for r in pr) + ".")
            self.w()

    def scale(self):
        self.w("## 5. Scale: connections")
        self.w()
        sc = self.sel(kind="remote", section="scale")
        if not sc:
            self.w("Not measured in this run.")
            self.w()
            return
        self.w("4 KiB randread on null at QD1 per connection (queue pair), one nvfab perf process on core 1, nvfabd with "
               "one reactor on core 0, a fresh nvfabd per point. RSS: nvfabd's VmRSS sampled every 50 ms; per "
               "connection = (peak during the run − idle after start) / connections.")
        self.w()
        self.w("| connections | mode | IOPS | avg latency us | p99 us | nvfabd RSS idle → peak MiB | RSS per connection KiB | target us/IO | cmd |")
        self.w("|---|---|---|---|---|---|---|---|---|")
        conns = sorted({r["conns"] for r in sc})
        data = {}
        plots = []
        for mode in self.modes():
            pts = []
            for c in conns:
                rs = [r for r in sc if r["conns"] == c and r["mode"] == mode]
                if not rs:
                    continue
                idle = self.m(rs, "acct.target_rss_idle_kb")
                peak = self.m(rs, "acct.target_rss_max_kb")
                per = (peak - idle) / c if idle is not None and peak is not None else None
                io = self.m(rs, "result.iops")
                self.w(f"| {c} | {mode} | {kiops(io)} | {f(self.m(rs, 'result.avg'), 1)} | {f(self.m(rs, 'result.p99'), 1)} | "
                       f"{f(idle / 1024 if idle else None, 1)} → {f(peak / 1024 if peak else None, 1)} | {f(per, 0)} | "
                       f"{f(self.m(rs, 'acct.target_cpu_us_per_io'), 2)} | {self.cids(rs)} |")
                if io:
                    pts.append((c, io / 1000, (peak or 0) / 1024))
            if pts:
                fn = f"scale_{mode}.dat"
                data[fn] = "".join(f"{c} {i:.1f} {r:.1f}\n" for c, i, r in pts)
                plots.append(f"'{fn}' using 1:2 axis x1y1 with linespoints lw 2 title 'kIOPS, {mode}'")
                plots.append(f"'{fn}' using 1:3 axis x1y2 with linespoints dt 2 lw 2 title 'nvfabd RSS MiB, {mode}'")
        self.w()
        if plots:
            script = ("set title 'Connections: IOPS and nvfabd memory (4 KiB randread QD1 per connection, null)'\n"
                      "set xlabel 'connections (queue pairs)'\nset ylabel 'kIOPS'\nset y2label 'RSS (MiB)'\n"
                      "set logscale x 2\nset ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
                      "set grid\nset key top left\nplot " + ", ".join(plots) + "\n")
            self.w(self.plot("scale_connections", script, data))
            self.w()

    def commands(self):
        self.w("## Commands")
        self.w()
        self.w("Each id is the target (or floor server) command, then the client command; `CONFIG.json` is the "
               "nvfabd config kept in `work/` (a RAM bdev Malloc0 of 256 MiB and a null bdev Null0, each in its "
               "own subsystem, one TCP listener on a free port), RESULT.json the tool's own output, kept in `raw/` (archived "
               "as `raw.tar.xz` after a full run).")
        self.w()
        for (tgt, cli), i in self.cmds.items():
            self.w(f"- **{i}**: " + (f"`{tgt}`" if tgt else "no target (in-process bdev)") + (f" ; `{cli}`" if cli else ""))
        self.w()

    def failures(self):
        fl = self.meta.get("failures") or []
        if not fl:
            return
        self.w("## Failures")
        self.w()
        for x in fl:
            first, _, rest = x.partition("\n")
            self.w(f"- {first}")
            if rest.strip():
                self.w("  ```")
                for line in rest.strip().splitlines()[-8:]:
                    self.w("  " + line)
                self.w("  ```")
        self.w()

    def build(self):
        self.header()
        self.headline()
        self.floor()
        self.latency()
        self.iops()
        self.cpu()
        self.scale()
        self.commands()
        self.failures()
        path = os.path.join(self.dir, "report.md")
        with open(path, "w") as fh:
            fh.write("\n".join(self.lines) + "\n")
        return path


def generate(outdir):
    return Report(outdir).build()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(generate(sys.argv[1]))
