"""Background work of the exchange app. Idempotent: a job runs once, whoever claims it."""

from django_tasks import task

from wenxu.exchange import services


@task()
def run_export_job(job_id: int) -> bool:
    return services.export_job_run(job_id=job_id)
