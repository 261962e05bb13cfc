# The state bucket (RECONCILER_STATE_URL=gs://BUCKET/state): the audit log's segments and
# head, the run lease, the emergency holds and the read counts. Uniform access (IAM only,
# no ACLs), never public, every overwrite kept as a noncurrent version, and a retention
# policy so no audit object can be deleted or replaced before it ages out (policy 第14.1条);
# Bucket Lock (lock_state_retention) makes that policy permanent, even for project owners.
locals {
  state_bucket = var.state_bucket_name != "" ? var.state_bucket_name : "${var.project_id}-reconciler-state"
  state_url    = "gs://${google_storage_bucket.state.name}/state"
}

resource "google_storage_bucket" "state" {
  name                        = local.state_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  retention_policy {
    retention_period = var.state_retention_days * 86400
    is_locked        = var.lock_state_retention
  }

  depends_on = [google_project_service.apis]
}

# storage.objects.get/list/create/delete on this bucket only (roles/storage.objectUser):
# read and append the audit log, take and release the run lease, save holds. Deletion of
# anything younger than the retention period is refused by the bucket itself.
resource "google_storage_bucket_iam_member" "runtime_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = local.runtime_member
}
