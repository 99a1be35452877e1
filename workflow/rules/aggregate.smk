rule aggregate:
    """One curves table and one probe table for every experiment."""
    input:
        curves=[p for e in STUDY.experiments.values() for p in layout.curve_tables(e)],
        probe=lambda wc: [p for e in STUDY.experiments for p in probe_tables(e)],
    output:
        curves=layout.CURVES,
        probe=layout.PROBES,
        switches=layout.SWITCHES,
    log:
        layout.AGGREGATE_LOG,
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
