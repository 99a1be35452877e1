# Appendix B checked numerically (docs/theory.md): the two-stage teacher of Algorithm 1 per (d, n) cell, the
# theorem B.8 students per n, one table, two figures. Runs only with a `theory` section (layout.all_targets).
rule theory_correlation:
    """The teacher's first stage at one (d, n), every seed and batch factor: theorem B.2, lemma B.5."""
    output:
        L.THEORY_CORRELATION,
    log:
        L.THEORY_CORRELATION_LOG,
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
        L.THEORY_STUDENTS,
    log:
        L.THEORY_STUDENTS_LOG,
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
        correlation=lambda wc: L.theory_tables(config)[0],
        students=lambda wc: L.theory_tables(config)[1],
    output:
        parquet=L.THEORY_TABLE,
        md=L.THEORY_MD,
    log:
        L.THEORY_LOG,
    conda:
        ENV
    threads: 1
    script:
        "../scripts/theory_aggregate.py"


rule theory_figure:
    """results/figures/theory_corr (lemma B.5) and theory_samples (theorem B.8), PDF + PNG."""
    input:
        L.THEORY_TABLE,
    output:
        pdf=L.FIGURE_PDF,
        png=report(
            L.FIGURE_PNG,
            caption="../report/theory.rst",
            category="theory (appendix B)",
            labels={"figure": "{fig}"},
        ),
    log:
        L.FIGURE_LOG,
    wildcard_constraints:
        fig=L.figure_pattern("theory"),
    conda:
        ENV
    threads: 1
    params:
        caption=lambda wc: L.FIGURES[wc.fig].caption,
    script:
        "../scripts/theory_figure.py"
