rule aggregate:
    """One curves table and one probe table for every experiment."""
    input:
        curves=[p for e in EXPS for p in curve_tables(e)],
        probe=lambda wc: [p for e in EXPS for p in probe_tables(e)],
    output:
        curves=f"{RES}/curves.parquet",
        probe=f"{RES}/probe.parquet",
    log:
        f"{RES}/logs/aggregate.log",
    conda:
        ENV
    script:
        "../scripts/aggregate.py"
