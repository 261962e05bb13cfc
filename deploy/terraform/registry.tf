# Where the image is pushed (deploy/Dockerfile). Cloud Run in this project pulls from it
# with its own service agent; no extra grant is needed.
resource "google_artifact_registry_repository" "images" {
  repository_id = "reconciler"
  location      = var.region
  format        = "DOCKER"
  description   = "reconciler container images"

  depends_on = [google_project_service.apis]
}
