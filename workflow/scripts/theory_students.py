from progdistill import logs, theory

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
theory.run_student_cell(sm.config["theory"], int(sm.wildcards.n), sm.output[0])
