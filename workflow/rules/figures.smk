rule figure:
    """One figure (PDF + PNG) of the registry (progdistill.layout.FIGURES) from the aggregated tables;
    `snakemake results/figures/fig2b.pdf`."""
    input:
        curves=L.CURVES,
        probe=L.PROBES,
        selected=lambda wc: L.SELECTED.format(exp=figure_experiment(wc)),
        selection=lambda wc: L.SELECTION.format(exp=figure_experiment(wc)),
    output:
        pdf=L.FIGURE_PDF,
        png=report(
            L.FIGURE_PNG,
            caption="../report/figure.rst",
            category=figure_experiment,
            labels={"figure": "{fig}"},
        ),
    log:
        L.FIGURE_LOG,
    wildcard_constraints:
        fig=L.figure_pattern("parity", "hierarchical"),
    conda:
        ENV
    params:
        caption=lambda wc: L.FIGURES[wc.fig].caption,
        experiment=figure_experiment,
    script:
        "../scripts/figure.py"


rule scaling_figure:
    """Steps to accuracy against width (log-log) for an experiment with a `scaling` CE width sweep."""
    input:
        curves=L.CURVES,
    output:
        pdf=L.SCALING_PDF,
        png=report(
            L.SCALING_PNG,
            caption="../report/scaling.rst",
            category="{exp}",
            labels={"figure": "scaling_{exp}"},
        ),
    log:
        L.SCALING_LOG,
    conda:
        ENV
    script:
        "../scripts/scaling_figure.py"


rule task_figure:
    """A figure of the experiment's task alone (layout.FIGURES entries with needs="task": fig9's tree,
    task_parity's support); `snakemake results/figures/fig9.pdf` trains nothing."""
    output:
        pdf=L.FIGURE_PDF,
        png=report(
            L.FIGURE_PNG,
            caption="../report/task.rst",
            category=figure_experiment,
            labels={"figure": "{fig}"},
        ),
    log:
        L.FIGURE_LOG,
    wildcard_constraints:
        fig=L.figure_pattern("parity", "hierarchical", needs="task"),
    conda:
        ENV
    params:
        caption=lambda wc: L.FIGURES[wc.fig].caption,
        experiment=figure_experiment,
        # The figure depends on the task only: a changed task redraws it (no input to go stale).
        task=lambda wc: pdc.digest(EXPS[figure_experiment(wc)]["task"]),
    script:
        "../scripts/task_figure.py"
