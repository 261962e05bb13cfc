# Two buckets, because a retention policy forbids replacing or deleting any young object:
#
# - state (RECONCILER_STATE_URL=gs://STATE/state): the run lease, the audit log's HEAD, the
#   emergency holds and the read counts. They are replaced routinely (with generation
#   preconditions), so this bucket has NO retention policy; versioning keeps every former
#   generation, so nothing overwritten is lost.
# - audit (RECONCILER_AUDIT_URL=gs://AUDIT/audit): the audit segments, one object per record,
#   created once and never replaced. A retention policy keeps any of them from being deleted
#   or replaced before it ages out (policy 第14.1条); Bucket Lock (lock_audit_retention) makes
#   that permanent, even for project owners: the log becomes WORM. The yearly inventory
#   (the auditors' evidence) is archived here too, under gs://AUDIT/inventory/<year>/<run id>/,
#   beside the segments' audit/ prefix and never inside it, each object created once.
#
# Both: uniform access (IAM only, no ACLs), never public.
locals {
  state_bucket = var.state_bucket_name != "" ? var.state_bucket_name : "${var.project_id}-reconciler-state"
  audit_bucket = var.audit_bucket_name != "" ? var.audit_bucket_name : "${var.project_id}-reconciler-audit"
  state_url    = "gs://${google_storage_bucket.state.name}/state"
  audit_url    = "gs://${google_storage_bucket.audit.name}/audit"
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

  # Each former HEAD or lease is a noncurrent version; the records are in their segments.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 365
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "audit" {
  name                        = local.audit_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  retention_policy {
    retention_period = var.audit_retention_days * 86400
    is_locked        = var.lock_audit_retention
  }

  depends_on = [google_project_service.apis]
}

# storage.objects.get/list/create/delete on the state bucket only (roles/storage.objectUser):
# take and release the run lease, move the audit HEAD, save holds and read counts.
resource "google_storage_bucket_iam_member" "runtime_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = local.runtime_member
}

# On the audit bucket: create and read, never delete (objectCreator + objectViewer), for the
# audit segments and the inventory files alike. With
# versioning a replace needs delete too, so a creator-only identity cannot rewrite a segment.
resource "google_storage_bucket_iam_member" "runtime_audit_create" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectCreator"
  member = local.runtime_member
}

resource "google_storage_bucket_iam_member" "runtime_audit_read" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectViewer"
  member = local.runtime_member
}

# storage.buckets.get (and objects.list) on the audit bucket: `reconciler doctor` reads its
# retention policy and whether Bucket Lock locked it. No write to the bucket's settings.
resource "google_storage_bucket_iam_member" "runtime_audit_bucket_read" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.legacyBucketReader"
  member = local.runtime_member
}
