rule summary:
    """Steps to 90/95/99% accuracy per experiment x width x strategy: results/summary.{parquet,md,html}."""
    input:
        layout.CURVES,
    output:
        parquet=layout.SUMMARY_PARQUET,
        md=layout.SUMMARY_MD,
        html=report(
            layout.SUMMARY_HTML,
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "steps to accuracy"},
        ),
    log:
        layout.SUMMARY_LOG,
    conda:
        ENV
    script:
        "../scripts/summary.py"


rule record_config:
    """The configuration as it ran (defaults filled in): results/config.yaml, and a page of the report."""
    output:
        yaml=layout.CONFIG_YAML,
        html=report(
            layout.CONFIG_HTML,
            caption="../report/config.rst",
            category="Configuration",
            labels={"file": "config"},
        ),
    log:
        layout.CONFIG_LOG,
    conda:
        ENV
    params:
        # A changed configuration changes this parameter, which reruns the rule (the record's form: a rerun
        # from results/config.yaml itself changes nothing).
        digest=lambda wc: pdconfig.digest(pdconfig.record_form(config)),
    script:
        "../scripts/record_config.py"
