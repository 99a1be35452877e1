rule probe:
    """Correlate one teacher checkpoint's outputs with in- and off-support monomials."""
    input:
        f"{RES}/{{exp}}/teacher/{{tid}}/checkpoints",
    output:
        temp(f"{RES}/{{exp}}/probe/{{tid}}/step{{step}}.parquet"),
    log:
        f"{RES}/logs/{{exp}}/probe/{{tid}}/step{{step}}.log",
    conda:
        ENV
    threads: 1
    script:
        "../scripts/probe.py"
