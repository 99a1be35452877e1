# Appendix B checked numerically (README "Theory check (appendix B)"): the two-stage teacher of Algorithm 1
# per (d, n) cell, the theorem B.8 students per n, one table, two figures. Runs only with a `theory` section
# (progdistill.theory.targets, asked for by all_targets in common.smk).
rule theory_correlation:
    """The teacher's first stage at one (d, n), every seed and batch factor: theorem B.2, lemma B.5."""
    output:
        f"{RES}/theory/correlation/d{{d}}_n{{n}}.parquet",
    log:
        f"{RES}/logs/theory/correlation_d{{d}}_n{{n}}.log",
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
        f"{RES}/theory/students/n{{n}}.parquet",
    log:
        f"{RES}/logs/theory/students_n{{n}}.log",
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
        correlation=lambda wc: pdt.correlation_tables(config, RES),
        students=lambda wc: pdt.student_tables(config, RES),
    output:
        parquet=f"{RES}/theory/theory.parquet",
        md=f"{RES}/theory/theory.md",
    log:
        f"{RES}/logs/theory/aggregate.log",
    conda:
        ENV
    threads: 1
    script:
        "../scripts/theory_aggregate.py"


rule theory_figure:
    """results/figures/theory_corr (lemma B.5) and theory_samples (theorem B.8), PDF + PNG."""
    input:
        f"{RES}/theory/theory.parquet",
    output:
        pdf=f"{RES}/figures/theory_{{name}}.pdf",
        png=report(
            f"{RES}/figures/theory_{{name}}.png",
            caption="../report/theory.rst",
            category="theory (appendix B)",
            labels={"figure": "theory_{name}"},
        ),
    log:
        f"{RES}/logs/figures/theory_{{name}}.log",
    wildcard_constraints:
        name="|".join(pdt.THEORY_FIGURES),
    conda:
        ENV
    threads: 1
    params:
        caption=lambda wc: THEORY_CAPTIONS[wc.name],
    script:
        "../scripts/theory_figure.py"
