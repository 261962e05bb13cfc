# What the next steps need (docs/deployment.md).
output "service_url" {
  description = "The daemon's URL: the GitHub App's webhook URL is SERVICE_URL/webhook."
  value       = google_cloud_run_v2_service.reconciler.uri
}

output "runtime_service_account" {
  description = "The runtime identity; its unique id is the client id to authorise for domain-wide delegation."
  value       = google_service_account.runtime.email
}

output "runtime_client_id" {
  description = "Client id for Admin console > Security > API controls > Domain-wide delegation."
  value       = google_service_account.runtime.unique_id
}

output "scheduler_service_account" {
  description = "The identity of the Cloud Scheduler jobs."
  value       = google_service_account.scheduler.email
}

output "plan_service_account" {
  description = "The read-only identity of pull-request plans (GitHub secret RECONCILER_PLAN_SERVICE_ACCOUNT)."
  value       = google_service_account.plan.email
}

output "plan_client_id" {
  description = "Client id of the read-only delegation: authorise it for the read-only Directory scopes alone (docs/deployment.md)."
  value       = google_service_account.plan.unique_id
}

output "plan_github_app_key_secret" {
  description = "RECONCILER_GITHUB_PRIVATE_KEY_SECRET of pull-request plans: the read-only GitHub App's key (repository variable RECONCILER_PLAN_GITHUB_KEY_SECRET)."
  value       = "${google_secret_manager_secret.plan_github_app_key.id}/versions/latest"
}

output "workload_identity_provider" {
  description = "For google-github-actions/auth (GitHub secret RECONCILER_WIF_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "state_url" {
  description = "RECONCILER_STATE_URL, for emergency runs from a laptop or a Cloud Run job."
  value       = local.state_url
}

output "image_repository" {
  description = "Where to push the image."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/reconciler"
}

output "audit_url" {
  description = "RECONCILER_AUDIT_URL: the audit segments' bucket (retention policy, optional Bucket Lock)."
  value       = local.audit_url
}
