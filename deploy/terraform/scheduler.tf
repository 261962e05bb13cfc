# Cloud Scheduler: each job POSTs to a /run/* endpoint with an OIDC token of the scheduler
# account whose audience is the service URL (the app checks both). Times are Asia/Tokyo:
# the nightly drift report, the two same-day offboarding sweeps (after 18:00, when a
# leaver's access ends, policy 第5.2条3, and a last one before midnight), and the annual
# access inventory (第9.1条). A run missed by a retry is caught by the next one: one attempt.
locals {
  schedules = {
    drift      = { path = "/run/drift", cron = "0 2 * * *", what = "nightly drift report" }
    sweep      = { path = "/run/sweep", cron = "0 18 * * *", what = "leavers' offboarding at 18:00" }
    sweep-late = { path = "/run/sweep", cron = "30 23 * * *", what = "last same-day offboarding sweep" }
    inventory  = { path = "/run/inventory", cron = var.inventory_schedule, what = "annual access inventory" }
  }
}

resource "google_cloud_scheduler_job" "run" {
  for_each    = local.schedules
  name        = "reconciler-${each.key}"
  description = each.value.what
  schedule    = each.value.cron
  time_zone   = "Asia/Tokyo"
  region      = var.region

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.service_url}${each.value.path}"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.service_url
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_v2_service.reconciler]
}
