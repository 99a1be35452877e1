rule summary:
    """Steps to 90/95/99% accuracy per experiment x width x strategy: results/summary.{parquet,md}."""
    input:
        f"{RES}/curves.parquet",
    output:
        parquet=f"{RES}/summary.parquet",
        md=f"{RES}/summary.md",
    log:
        f"{RES}/logs/summary.log",
    conda:
        ENV
    script:
        "../scripts/summary.py"
