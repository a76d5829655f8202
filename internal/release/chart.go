package release

import (
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// Chart packages the chart at dir as outDir/<name>-<version>.tgz, what `helm package
// --version --app-version` writes: the chart's version is the release's without its "v"
// (Helm wants SemVer), its appVersion the release's own, so the image tag defaults to it. Every
// file is dated created, so one commit packages to the same bytes. It returns the archive's path.
func Chart(dir, version string, created time.Time, outDir string) (string, error) {
	chartVersion := strings.TrimPrefix(version, "v")
	if _, err := semver.StrictNewVersion(chartVersion); err != nil {
		return "", fmt.Errorf("version %q is not v<SemVer>: %w", version, err)
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return "", fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	ch.Metadata.Version = chartVersion
	ch.Metadata.AppVersion = version
	if err := ch.Validate(); err != nil {
		return "", fmt.Errorf("the chart %s: %w", dir, err)
	}
	ch.StampModTimes(created.UTC().Truncate(time.Second))
	return chartutil.Save(ch, outDir)
}
