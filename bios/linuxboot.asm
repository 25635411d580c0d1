; oxbox's direct Linux boot option ROM (--kernel/--initrd/--append).
;
; oxbox places the kernel's real-mode setup code, its protected-mode part,
; the initrd and the command line in RAM and fills in the setup header
; itself (emulator/src/linux_boot.rs, Linux boot protocol 2.02+,
; Documentation/arch/x86/boot.rst). This ROM, found by the BIOS's
; option-ROM scan of C8000h-DFFFFh, hooks INT 19h; when the BIOS boots,
; it enters the kernel's setup code the way a boot loader does:
; DS = ES = FS = GS = SS = the setup segment, SP = the top of its heap,
; CS:IP = (segment + 20h):0000, interrupts off.
;
; oxbox writes the parameter block below and the checksum byte (the last
; byte) when it maps the ROM.

bits 16
cpu 386
org 0

    db 0x55, 0xAA               ; option ROM signature
    db 1                        ; length in 512-byte blocks
    jmp short init              ; initialisation entry (offset 3)
    nop

; Parameter block at offset 6 (filled in by oxbox).
setup_segment:  dw 0            ; where the real-mode setup code was loaded
stack_pointer:  dw 0            ; SP for the setup code (its heap end)

init:
    push ds
    push ax
    xor ax, ax
    mov ds, ax
    mov word [0x19 * 4], boot
    mov word [0x19 * 4 + 2], cs
    pop ax
    pop ds
    retf

boot:
    cli
    cld
    mov ax, [cs:setup_segment]
    mov bx, [cs:stack_pointer]
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov sp, bx
    add ax, 0x20                ; the setup code's entry: its second sector
    push ax
    push word 0
    retf

    times 511 - ($ - $$) db 0
checksum:
    db 0                        ; patched so that all bytes sum to zero
