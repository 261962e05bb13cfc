# Secret Manager secrets (policy 第4.1条): Terraform creates them empty; their values are
# added by hand (docs/deployment.md, "Store the secrets"), so no secret is ever in the
# Terraform state or this repo. Each is readable by the runtime account only (the read-only App's key below by the plan
# account only)
# (secretmanager.versions.access); the app reads them itself and masks every value in output.
locals {
  secrets = {
    github_app_key = "reconciler-github-app-key" # the GitHub App's private key (PEM)
    webhook_secret = "reconciler-webhook-secret" # GitHub webhook HMAC secret
    notify_url     = "reconciler-notify-url"     # chat webhook URL for run reports
  }
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  secret_id = each.value

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# The read-only GitHub App's private key (pull-request plans): readable by the plan account
# alone; the runtime never needs it, the plan account needs nothing else.
resource "google_secret_manager_secret" "plan_github_app_key" {
  secret_id = "reconciler-plan-github-app-key"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "plan_reads" {
  secret_id = google_secret_manager_secret.plan_github_app_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.plan_member
}

resource "google_secret_manager_secret_iam_member" "runtime_reads" {
  for_each  = google_secret_manager_secret.secret
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}
