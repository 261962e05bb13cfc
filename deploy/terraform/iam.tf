# Identities and what each may do. Every permission here is one the product's code calls
# (reconciler/providers/permissions.py lists them with the API call and why, and
# tests/deploy/test_terraform.py checks this file grants each of them; docs/permissions.md
# is the table for reviewers). Least privilege, policy 第5.1条.

# The runtime identity: Cloud Run runs as it, and it is the service account whose client id
# holds the Workspace domain-wide delegation (keyless: it signs its own assertion).
resource "google_service_account" "runtime" {
  account_id   = "reconciler"
  display_name = "reconciler runtime"
  description  = "Reconciles access rights of ${var.workspace_domain} (${var.workspace_customer_id}) and ${var.github_org}; signs its own delegation."
}

# Cloud Scheduler calls /run/* with OIDC tokens of this account; the app accepts /run/* only
# with a token for this email and the service URL as audience (RECONCILER_SCHEDULER_SERVICE_ACCOUNT).
resource "google_service_account" "scheduler" {
  account_id   = "reconciler-scheduler"
  display_name = "reconciler scheduler"
  description  = "Identity of the Cloud Scheduler jobs calling the reconciler's /run endpoints."
}

# Pull-request plans in the desired-state repo's GitHub Actions, through Workload Identity
# Federation: reads only (getIamPolicy, list), no write. Its unique id holds a second,
# read-only domain-wide delegation (the read-only Directory scopes alone), which it signs
# itself like the runtime does; it reads the read-only GitHub App's key and nothing else.
resource "google_service_account" "plan" {
  account_id   = "reconciler-plan"
  display_name = "reconciler pull-request plans (read only)"
  description  = "Read-only identity of the desired-state repo's pull-request plan job."
}

# What the runtime needs on each managed project, folder and the organization: exactly the
# calls of the GCP provider. One organization-level custom role, so it can be granted on
# any resource in the organization; a permission that does not apply at a level (folders.*
# on a project) has no effect there.
resource "google_organization_iam_custom_role" "runtime" {
  org_id      = var.organization_id
  role_id     = "reconcilerRuntime"
  title       = "reconciler runtime"
  description = "Read and edit IAM bindings; list service accounts, keys and custom roles."
  permissions = [
    # cloudresourcemanager v3 {projects,folders,organizations}.getIamPolicy: read bindings.
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.folders.getIamPolicy",
    "resourcemanager.organizations.getIamPolicy",
    # ... .setIamPolicy: add/remove bindings (read-modify-write with the etag).
    "resourcemanager.projects.setIamPolicy",
    "resourcemanager.folders.setIamPolicy",
    "resourcemanager.organizations.setIamPolicy",
    # iam admin v1 ListServiceAccounts / ListServiceAccountKeys: the user-managed key finding.
    "iam.serviceAccounts.list",
    "iam.serviceAccountKeys.list",
    # iam admin v1 ListRoles under projects/P and organizations/N: roles.yaml's custom roles exist.
    "iam.roles.list",
    # cloudasset v1 searchAllIamPolicies over the organization: emergency offboarding look-ups.
    "cloudasset.assets.searchAllIamPolicies",
  ]
}

# The same reads for pull-request plans, without any write.
resource "google_organization_iam_custom_role" "plan" {
  org_id      = var.organization_id
  role_id     = "reconcilerPlan"
  title       = "reconciler pull-request plans"
  description = "Read IAM bindings, service accounts, keys and custom roles; no writes."
  permissions = [
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.folders.getIamPolicy",
    "resourcemanager.organizations.getIamPolicy",
    "iam.serviceAccounts.list",
    "iam.serviceAccountKeys.list",
    "iam.roles.list",
  ]
}

locals {
  runtime_member = "serviceAccount:${google_service_account.runtime.email}"
  plan_member    = "serviceAccount:${google_service_account.plan.email}"
}

resource "google_project_iam_member" "runtime" {
  for_each = toset(var.managed_projects)
  project  = each.value
  role     = google_organization_iam_custom_role.runtime.name
  member   = local.runtime_member
}

resource "google_folder_iam_member" "runtime" {
  for_each = toset(var.managed_folders)
  folder   = "folders/${each.value}"
  role     = google_organization_iam_custom_role.runtime.name
  member   = local.runtime_member
}

# On the organization: always, for searchAllIamPolicies and the organization's custom
# roles; its setIamPolicy is used only when organization.yaml manages organizations/N.
resource "google_organization_iam_member" "runtime" {
  org_id = var.organization_id
  role   = google_organization_iam_custom_role.runtime.name
  member = local.runtime_member
}

resource "google_project_iam_member" "plan" {
  for_each = toset(var.managed_projects)
  project  = each.value
  role     = google_organization_iam_custom_role.plan.name
  member   = local.plan_member
}

resource "google_folder_iam_member" "plan" {
  for_each = toset(var.managed_folders)
  folder   = "folders/${each.value}"
  role     = google_organization_iam_custom_role.plan.name
  member   = local.plan_member
}

resource "google_organization_iam_member" "plan" {
  count  = var.manage_organization ? 1 : 0
  org_id = var.organization_id
  role   = google_organization_iam_custom_role.plan.name
  member = local.plan_member
}

# Keyless domain-wide delegation: the runtime signs the Workspace assertion as itself with
# iamcredentials signJwt (iam.serviceAccounts.signJwt), on itself only; no key exists.
resource "google_service_account_iam_member" "runtime_signs_itself" {
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_member
}

# Keyless read-only delegation for pull-request plans (RECONCILER_READ_ONLY): the plan
# account signs its own Workspace assertion, on itself only; the delegation of its client
# id is authorised for the read-only scopes alone, so a token it obtains cannot write.
resource "google_service_account_iam_member" "plan_signs_itself" {
  service_account_id = google_service_account.plan.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.plan_member
}
