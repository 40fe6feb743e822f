package twilio

import (
	"reflect"
	"testing"

	"github.com/callsnare/callsnare/internal/callflow"
)

func TestMedia(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want []callflow.Media
	}{
		{"sms", Params{"NumMedia": "0", "Body": "hi"}, nil},
		{"no count", Params{"MediaUrl0": "https://api.twilio.com/m/0"}, nil},
		{"two", Params{"NumMedia": "2", "MediaUrl0": "https://api.twilio.com/m/0", "MediaContentType0": "image/jpeg",
			"MediaUrl1": "https://api.twilio.com/m/1", "MediaContentType1": "video/mp4"},
			[]callflow.Media{{URL: "https://api.twilio.com/m/0", ContentType: "image/jpeg"}, {URL: "https://api.twilio.com/m/1", ContentType: "video/mp4"}}},
		{"count beyond urls", Params{"NumMedia": "3", "MediaUrl0": "https://api.twilio.com/m/0"},
			[]callflow.Media{{URL: "https://api.twilio.com/m/0"}}},
		{"garbage count", Params{"NumMedia": "lots", "MediaUrl0": "https://api.twilio.com/m/0"}, nil},
	}
	for _, tt := range tests {
		if got := Media(tt.p); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Media = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
