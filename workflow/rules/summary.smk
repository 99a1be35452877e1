rule summary:
    """Steps to 90/95/99% accuracy per experiment x width x strategy: results/summary.{parquet,md,html}."""
    input:
        L.CURVES,
    output:
        parquet=L.SUMMARY_PARQUET,
        md=L.SUMMARY_MD,
        html=report(
            L.SUMMARY_HTML,
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "steps to accuracy"},
        ),
    log:
        L.SUMMARY_LOG,
    conda:
        ENV
    script:
        "../scripts/summary.py"


rule record_config:
    """The configuration as it ran (defaults filled in): results/config.yaml, and a page of the report."""
    output:
        yaml=L.CONFIG_YAML,
        html=report(
            L.CONFIG_HTML,
            caption="../report/config.rst",
            category="Configuration",
            labels={"file": "config"},
        ),
    log:
        L.CONFIG_LOG,
    conda:
        ENV
    params:
        # A changed configuration changes this parameter, which reruns the rule.
        digest=lambda wc: pdc.digest(config),
    script:
        "../scripts/record_config.py"
