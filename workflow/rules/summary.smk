rule summary:
    """Steps to 90/95/99% accuracy per experiment x width x strategy: results/summary.{parquet,md,html}."""
    input:
        f"{RES}/curves.parquet",
    output:
        parquet=f"{RES}/summary.parquet",
        md=f"{RES}/summary.md",
        html=report(
            f"{RES}/summary.html",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "steps to accuracy"},
        ),
    log:
        f"{RES}/logs/summary.log",
    conda:
        ENV
    script:
        "../scripts/summary.py"


rule record_config:
    """The configuration as it ran (defaults filled in): results/config.yaml, and a page of the report."""
    output:
        yaml=f"{RES}/config.yaml",
        html=report(
            f"{RES}/config.html",
            caption="../report/config.rst",
            category="Configuration",
            labels={"file": "config"},
        ),
    log:
        f"{RES}/logs/record_config.log",
    conda:
        ENV
    params:
        # A changed configuration changes this parameter, which reruns the rule.
        digest=lambda wc: pdc.digest(config),
    script:
        "../scripts/record_config.py"
