rule aggregate:
    """One curves table and one probe table for every experiment."""
    input:
        curves=[p for e in EXPS for p in L.curve_tables(e, EXPS[e])],
        probe=lambda wc: [p for e in EXPS for p in probe_tables(e)],
    output:
        curves=L.CURVES,
        probe=L.PROBES,
    log:
        L.AGGREGATE_LOG,
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
