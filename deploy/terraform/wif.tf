# Workload Identity Federation for the desired-state repo's GitHub Actions: the pull-request
# plan job (deploy/github/workflows/pull-request.yml) becomes the read-only plan account,
# with no key. Only tokens GitHub issues for that repository are accepted.
resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "reconciler-github"
  display_name              = "reconciler GitHub Actions"

  depends_on = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.event_name" = "assertion.event_name"
  }
  attribute_condition = "assertion.repository == '${var.desired_state_repo}' && assertion.repository_owner == '${var.github_org}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "plan_from_github" {
  service_account_id = google_service_account.plan.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.desired_state_repo}"
}
