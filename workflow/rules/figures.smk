rule figure:
    """One figure (PDF + PNG) of the registry (progdistill.layout.FIGURES) from the aggregated tables;
    `snakemake results/figures/fig2b.pdf`."""
    input:
        curves=layout.CURVES,
        probe=layout.PROBES,
        switches=layout.SWITCHES,
        teacher=lambda wc: layout.TEACHER_CHOICE.format(exp=figure_experiment(wc)),
        selection=lambda wc: layout.CHECKPOINT_SELECTION.format(
            exp=figure_experiment(wc)
        ),
    output:
        pdf=layout.FIGURE_PDF,
        png=report(
            layout.FIGURE_PNG,
            caption="../report/figure.rst",
            category=figure_experiment,
            labels={"figure": "{fig}"},
        ),
    log:
        layout.FIGURE_LOG,
    wildcard_constraints:
        fig=layout.figure_pattern("parity", "hierarchical"),
    conda:
        ENV
    params:
        caption=lambda wc: layout.FIGURES[wc.fig].caption,
        experiment=figure_experiment,
    script:
        "../scripts/figure.py"


rule scaling_figure:
    """Steps to accuracy against width (log-log) for an experiment with a `scaling` CE width sweep."""
    input:
        curves=layout.CURVES,
    output:
        pdf=layout.SCALING_PDF,
        png=report(
            layout.SCALING_PNG,
            caption="../report/scaling.rst",
            category="{exp}",
            labels={"figure": "scaling_{exp}"},
        ),
    log:
        layout.SCALING_LOG,
    conda:
        ENV
    script:
        "../scripts/scaling_figure.py"


rule task_figure:
    """A figure of the experiment's task alone (layout.FIGURES entries with needs="task": fig9's tree,
    task_parity's support); `snakemake results/figures/fig9.pdf` trains nothing."""
    output:
        pdf=layout.FIGURE_PDF,
        png=report(
            layout.FIGURE_PNG,
            caption="../report/task.rst",
            category=figure_experiment,
            labels={"figure": "{fig}"},
        ),
    log:
        layout.FIGURE_LOG,
    wildcard_constraints:
        fig=layout.figure_pattern("parity", "hierarchical", needs="task"),
    conda:
        ENV
    params:
        caption=lambda wc: layout.FIGURES[wc.fig].caption,
        experiment=figure_experiment,
        # The figure depends on the task only: a changed task redraws it (no input to go stale).
        task=lambda wc: pdconfig.digest(
            STUDY.experiment(figure_experiment(wc)).config["task"]
        ),
    script:
        "../scripts/task_figure.py"
