# Inputs. Copy terraform.tfvars.example to terraform.tfvars and fill it in; no secret goes
# here (secret values are added to Secret Manager by hand, docs/deployment.md).

variable "project_id" {
  description = "The GCP project that hosts the reconciler (Cloud Run, Scheduler, bucket, secrets)."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Scheduler, Artifact Registry and the state bucket."
  type        = string
  default     = "asia-northeast1"
}

variable "organization_id" {
  description = "Numeric GCP organization id: the custom roles live there and searchAllIamPolicies scans it."
  type        = string
}

variable "manage_organization" {
  description = "True when organization.yaml manages bindings on organizations/ORGANIZATION_ID itself."
  type        = bool
  default     = false
}

variable "managed_projects" {
  description = "Project ids whose IAM bindings organization.yaml manages (systems.gcp projects/...)."
  type        = list(string)
  default     = []
}

variable "managed_folders" {
  description = "Folder ids (numbers) whose IAM bindings organization.yaml manages (systems.gcp folders/...)."
  type        = list(string)
  default     = []
}

variable "github_org" {
  description = "The GitHub organisation the reconciler manages (organization.yaml systems.github.org)."
  type        = string
}

variable "github_app_id" {
  description = "The GitHub App's id (docs/deployment.md, step 3)."
  type        = number
}

variable "github_installation_id" {
  description = "The App's installation id in the organisation."
  type        = number
}

variable "workspace_domain" {
  description = "The Google Workspace primary domain (organization.yaml systems.google.domain)."
  type        = string
}

variable "workspace_customer_id" {
  description = "The Workspace customer id (Admin console > Account settings), e.g. C01234abc."
  type        = string
}

variable "workspace_admin_subject" {
  description = "The Workspace admin the delegation acts as (a dedicated admin account with a custom admin role)."
  type        = string
}

variable "desired_state_repo" {
  description = "The desired-state repo as OWNER/NAME on GitHub."
  type        = string
}

variable "desired_state_branch" {
  description = "The branch whose merges are applied."
  type        = string
  default     = "main"
}

variable "image" {
  description = "The image to run, by digest: REGION-docker.pkg.dev/PROJECT/reconciler/reconciler@sha256:..."
  type        = string
}

variable "apply_enabled" {
  description = "RECONCILER_APPLY: false runs every plan as a dry run (the first days); true applies."
  type        = bool
  default     = false
}

variable "service_name" {
  description = "Cloud Run service name (also part of its URL)."
  type        = string
  default     = "reconciler"
}

variable "state_bucket_name" {
  description = "Name of the state bucket (globally unique); default PROJECT-reconciler-state."
  type        = string
  default     = ""
}

variable "audit_bucket_name" {
  description = "Name of the audit bucket (globally unique); default PROJECT-reconciler-audit."
  type        = string
  default     = ""
}

variable "audit_retention_days" {
  description = "Retention policy of the audit bucket, in days: no audit segment can be deleted or replaced earlier (agree it with the auditors; e.g. 7 years)."
  type        = number
  default     = 2557
}

variable "lock_audit_retention" {
  description = "Bucket Lock on the audit bucket: make its retention policy permanent (WORM). IRREVERSIBLE: the bucket cannot be deleted until every object has aged out."
  type        = bool
  default     = false
}

variable "inventory_schedule" {
  description = "Cron (Asia/Tokyo) of the annual access inventory; default 1 April 09:00, the fiscal year's start."
  type        = string
  default     = "0 9 1 4 *"
}
