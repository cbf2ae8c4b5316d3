"""`smsprobe-collector demo`: the whole system on embedded defaults, as deployed.

Separate processes, the way they run in production: one modem-simulator process (eight
simulated USB modems on pseudo-terminals), the vendor simulator (three vendors: `acme`
honest and fast, shaped like Alibaba Cloud SMS — signed requests, approved templates — ,
`cheap` a 253-style HTTP aggregator faking DELIVRD for most lost messages, `bolt` over SMPP
and slow at peak), the collector (SQLite ledger, real mTLS with certificates made
here), and two agents with four modems each (China Mobile, China Unicom, China Telecom and
an MVNO line). Probes run at an accelerated rate for `--duration` seconds, progress shows
live, then the last probes are judged and DIR receives verdicts.jsonl, summary.json,
truth.jsonl (the simulator's ground truth) and the ledger.

Demo wiring only, apart from product code:

    world.py       the demo's agents, modems and vendors (names, numbers, profiles)
    templates/     every config file the demo writes, as TOML templates (data)
    configs.py     fills those templates for one run
    supervisor.py  child processes: start, await a JSON line, stop the whole session
    progress.py    the live progress line, read from the ledger alongside the collector
    export.py      verdicts.jsonl and summary.json from the ledger
    cli.py         the click command that runs it all and checks the ground truth
"""
