# Providers and versions. One GCP project hosts the reconciler (Cloud Run, Scheduler, state
# bucket, secrets, image registry); the IAM bindings it needs reach into the projects,
# folders and organization that organization.yaml manages.
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}
