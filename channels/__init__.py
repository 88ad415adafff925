"""Custom Rasa input/output channels: Telegram, WhatsApp Cloud API and the website widget."""
