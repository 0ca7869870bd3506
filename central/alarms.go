package central

import (
	"context"
	"fmt"

	"github.com/apedge/apedge/formats/sitekey"
)

// ReadAlarms returns the alarms recorded in the store at dbPath (as in Options.Path)
// for site ("" for every alarm), oldest first. It opens the store for reading only, so
// it works while receivers run.
func ReadAlarms(ctx context.Context, dbPath, site string) ([]Alarm, error) {
	if site != "" && !sitekey.ValidSiteCode(site) {
		return nil, fmt.Errorf("central: alarms: site code %q is not valid", site)
	}
	s, err := openReadOnly(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("central: alarms: %w", err)
	}
	defer s.db.Close()
	return s.queryAlarms(ctx, site)
}
