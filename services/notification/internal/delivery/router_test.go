package delivery

import "testing"

type plainSender struct{ Sender }

type oncePerID struct{ Sender }

func (oncePerID) SendsOncePerID() bool { return true }

// TestResendsSafelyAsksTheChannelsDriver: through a Router, a cut-off send is repeated only for a
// channel whose driver keeps one copy per message id.
func TestResendsSafelyAsksTheChannelsDriver(t *testing.T) {
	r := Router{ChannelEmail: oncePerID{}, ChannelSMS: plainSender{}}
	if !resendsSafely(r, ChannelEmail) {
		t.Error("the e-mail driver keeps one copy per id: resending must be safe")
	}
	if resendsSafely(r, ChannelSMS) || resendsSafely(r, ChannelWhatsApp) {
		t.Error("SMS (a plain driver) and WhatsApp (none) must not be resent")
	}
	if resendsSafely(plainSender{}, ChannelEmail) || !resendsSafely(oncePerID{}, ChannelSMS) {
		t.Error("without a Router the sender itself decides")
	}
}
