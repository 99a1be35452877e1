# Appendix B checked numerically (docs/theory.md): the two-stage teacher of Algorithm 1 per (d, n) cell, the
# theorem B.8 students per n, one table, two figures. Runs only with a `theory` section (layout.all_targets).
rule theory_correlation:
    """The teacher's first stage at one (d, n), every seed and batch factor: theorem B.2, lemma B.5."""
    output:
        layout.THEORY_CORRELATION,
    log:
        layout.THEORY_CORRELATION_LOG,
    wildcard_constraints:
        d="[0-9]+",
        n="[0-9]+",
    conda:
        ENV
    threads: 1
    script:
        "../scripts/theory_correlation.py"


rule theory_students:
    """Theorem B.8 at one n: per seed a two-stage teacher, then progressive and one-shot students."""
    output:
        layout.THEORY_STUDENTS,
    log:
        layout.THEORY_STUDENTS_LOG,
    wildcard_constraints:
        n="[0-9]+",
    conda:
        ENV
    threads: 1
    script:
        "../scripts/theory_students.py"


rule theory_aggregate:
    """All cells in one table (results/theory/theory.parquet) with fitted slopes, and a markdown summary."""
    input:
        correlation=lambda wc: layout.theory_tables(STUDY.theory)[0],
        students=lambda wc: layout.theory_tables(STUDY.theory)[1],
    output:
        parquet=layout.THEORY_TABLE,
        md=layout.THEORY_MD,
    log:
        layout.THEORY_LOG,
    conda:
        ENV
    threads: 1
    script:
        "../scripts/theory_aggregate.py"


rule theory_figure:
    """results/figures/theory_corr (lemma B.5) and theory_samples (theorem B.8), PDF + PNG."""
    input:
        layout.THEORY_TABLE,
    output:
        pdf=layout.FIGURE_PDF,
        png=report(
            layout.FIGURE_PNG,
            caption="../report/theory.rst",
            category="theory (appendix B)",
            labels={"figure": "{fig}"},
        ),
    log:
        layout.FIGURE_LOG,
    wildcard_constraints:
        fig=layout.figure_pattern("theory"),
    conda:
        ENV
    threads: 1
    params:
        caption=lambda wc: layout.FIGURES[wc.fig].caption,
    script:
        "../scripts/theory_figure.py"
