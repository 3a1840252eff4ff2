"""WeChat Official Account (公众号) channel for Rasa.

``channels.wechat.WeChatInput`` is the name credentials.yml uses. The package's parts:

* ``crypto``: URL/message signatures and safe-mode AES;
* ``messages``: message XML (parsed with defusedxml), reply XML, reply text;
* ``storage``: ``SharedStore`` (memory or Redis) for de-duplication and the access token;
* ``api``: the customer-service message API client;
* ``channel``: ``WeChatInput`` (the webhook) and ``WeChatOutput`` (passive reply or API).
"""

from channels.wechat.channel import WeChatInput, WeChatOutput

__all__ = ["WeChatInput", "WeChatOutput"]
