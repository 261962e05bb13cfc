# The daemon (`reconciler serve`, the image's default command) on Cloud Run.
# One instance at most: runs must never overlap (the lease in the state bucket enforces it
# too). Ingress is open because GitHub's webhooks come from the internet; the app checks the
# webhook HMAC on /webhook and a Cloud Scheduler OIDC token (audience = the service URL,
# email = the scheduler account) on every /run/* call, so only those two callers start runs.
locals {
  # Cloud Run's deterministic URL, known before the service exists: the app and the
  # Scheduler jobs both need it (OIDC audience) without a dependency cycle.
  service_url = "https://${var.service_name}-${data.google_project.this.number}.${var.region}.run.app"
  secret_ref  = { for k, s in google_secret_manager_secret.secret : k => "${s.id}/versions/latest" }
}

resource "google_cloud_run_v2_service" "reconciler" {
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = true

  template {
    service_account                  = google_service_account.runtime.email
    max_instance_request_concurrency = 10
    timeout                          = "3600s"

    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }

    containers {
      image = var.image

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
        cpu_idle = false # a run continues after the request that started it has answered
      }

      # Secrets are Secret Manager references (resource names), never values: the app reads
      # them with its own identity and registers each value with the log redactor.
      env {
        name  = "RECONCILER_GITHUB_PRIVATE_KEY_SECRET"
        value = local.secret_ref["github_app_key"]
      }
      env {
        name  = "RECONCILER_WEBHOOK_SECRET_REF"
        value = local.secret_ref["webhook_secret"]
      }
      env {
        name  = "RECONCILER_NOTIFY_URL_REF"
        value = local.secret_ref["notify_url"]
      }
      env {
        name  = "RECONCILER_GITHUB_APP_ID"
        value = tostring(var.github_app_id)
      }
      env {
        name  = "RECONCILER_GITHUB_INSTALLATION_ID"
        value = tostring(var.github_installation_id)
      }
      env {
        name  = "RECONCILER_GOOGLE_IMPERSONATE_SERVICE_ACCOUNT"
        value = google_service_account.runtime.email
      }
      env {
        name  = "RECONCILER_GOOGLE_ADMIN_SUBJECT"
        value = var.workspace_admin_subject
      }
      env {
        name  = "RECONCILER_REPO_URL"
        value = "https://github.com/${var.desired_state_repo}.git"
      }
      env {
        name  = "RECONCILER_REPO_BRANCH"
        value = var.desired_state_branch
      }
      env {
        name  = "RECONCILER_STATE_URL"
        value = local.state_url
      }
      env {
        name  = "RECONCILER_AUDIT_URL"
        value = local.audit_url
      }
      env {
        name  = "RECONCILER_SERVICE_URL"
        value = local.service_url
      }
      env {
        name  = "RECONCILER_SCHEDULER_SERVICE_ACCOUNT"
        value = google_service_account.scheduler.email
      }
      env {
        name  = "RECONCILER_APPLY"
        value = tostring(var.apply_enabled)
      }
      env {
        name  = "RECONCILER_LOG_LEVEL"
        value = "info"
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.runtime_reads,
    google_storage_bucket_iam_member.runtime_state,
    google_service_account_iam_member.runtime_signs_itself,
  ]
}

# GitHub cannot present a Google identity, so the service accepts unauthenticated requests
# and the app authenticates every caller itself (see above). An organization policy
# restricting allUsers (iam.allowedPolicyMemberDomains) needs an exception for this service.
resource "google_cloud_run_v2_service_iam_member" "public" {
  name     = google_cloud_run_v2_service.reconciler.name
  location = google_cloud_run_v2_service.reconciler.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
