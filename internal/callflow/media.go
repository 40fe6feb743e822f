package callflow

// Media is one attachment of an inbound MMS: a photo of the broken unit, say.
type Media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
}
