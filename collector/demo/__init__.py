"""`smsprobe-collector demo`: the whole system on embedded defaults, as deployed.

Separate processes, the way they run in production: one modem-simulator process (nine
simulated USB modems on pseudo-terminals), the vendor simulator (four vendors: `acme`
honest and fast, shaped like Alibaba Cloud SMS — signed requests, approved templates — ,
`cheap` a 253-style HTTP aggregator faking DELIVRD for most lost messages, `bolt` over SMPP
and slow at peak, `gate` a "106" platform over CMPP 3.0), the collector (SQLite ledger, real
mTLS with certificates made here), and two agents (China Mobile, China Unicom and China
Telecom lines each; east-1 also a 170 MVNO line and a reserve SIM that only `cheap`'s
rotated probes reach, west-1 a number ported to China Telecom). The buyer's own templates
(`shop_otp`, `shop_ship` with a link on its own domain) go through `gate` and `cheap`.
Probes run at an accelerated rate for `--duration` seconds, progress shows live, then the
last probes are judged and DIR receives verdicts.jsonl, summary.json, report.json,
truth.jsonl (the simulator's ground truth) and the ledger.

Demo wiring only, apart from product code:

    world.py       the demo's agents, modems and vendors (names, numbers, profiles)
    templates/     every config file the demo writes, as TOML templates (data)
    configs.py     fills those templates for one run
    supervisor.py  child processes: start, await a JSON line, stop the whole session
    progress.py    the live progress line, read from the ledger alongside the collector
    export.py      verdicts.jsonl and summary.json from the ledger
    buyer.py       the printed kinds of line, SIMs, rotation and buyer templates
    cli.py         the click command that runs it all and checks the ground truth
"""
