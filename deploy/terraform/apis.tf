# The APIs the deployment and the product call (docs/deployment.md, step 1).
locals {
  apis = [
    "admin.googleapis.com",                # Admin SDK Directory (Workspace accounts, groups)
    "artifactregistry.googleapis.com",     # the image
    "cloudasset.googleapis.com",           # searchAllIamPolicies (emergency offboarding)
    "cloudresourcemanager.googleapis.com", # getIamPolicy / setIamPolicy
    "cloudscheduler.googleapis.com",       # drift, sweeps, inventory
    "iam.googleapis.com",                  # service accounts, keys, roles
    "iamcredentials.googleapis.com",       # signJwt: keyless domain-wide delegation
    "run.googleapis.com",                  # the service
    "secretmanager.googleapis.com",        # App key, webhook secret, notification URL
    "storage.googleapis.com",              # the state bucket
    "sts.googleapis.com",                  # Workload Identity Federation (pull-request plans)
  ]
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
