package twilio

import (
	"strconv"

	"github.com/callsnare/callsnare/internal/callflow"
)

// maxMedia is Twilio's limit of media on one MMS.
const maxMedia = 10

// Media returns an inbound MMS's media: NumMedia, then MediaUrl{N} and
// MediaContentType{N}. Entries without a URL are skipped; nil when there are none.
func Media(p Params) []callflow.Media {
	n, err := strconv.Atoi(p["NumMedia"])
	if err != nil || n <= 0 {
		return nil
	}
	var out []callflow.Media
	for i := range min(n, maxMedia) {
		u := p["MediaUrl"+strconv.Itoa(i)]
		if u == "" {
			continue
		}
		out = append(out, callflow.Media{URL: u, ContentType: p["MediaContentType"+strconv.Itoa(i)]})
	}
	return out
}
